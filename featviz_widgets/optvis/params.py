"""Image parametrizations: each returns ``(parameters, image_fn)``.

``parameters`` is the list of leaf tensors an optimizer updates; ``image_fn()`` builds the image batch
``[B, C, H, W]`` from them. The batch dimension holds several images optimized at once; image ``i`` is
initialized from ``generator[i]`` (one ``torch.Generator`` per image), so a picture does not depend on
which other pictures share its batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

ImageFn = Callable[[], Tensor]
# A single generator shared by the batch, or one per image (None entries use torch's global RNG).
GeneratorArg = torch.Generator | Sequence[torch.Generator | None] | None

# Square root of the colour covariance of ImageNet pixels (Lucid's `color_correlation_svd_sqrt`):
# optimizing in this decorrelated basis stops the optimizer from spending its steps on colour casts.
COLOR_CORRELATION_SVD_SQRT = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32
)
_COLOR_CORRELATION = COLOR_CORRELATION_SVD_SQRT / np.max(
    np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0)
)
# Lucid divides the Fourier image by 4: a smaller start keeps the sigmoid out of saturation.
_FOURIER_DIVISOR = 4.0


def _size_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 1 or w < 1:
        raise ValueError(f"image size must be positive, got {size!r}")
    return int(h), int(w)


def per_image_generators(generator: GeneratorArg, batch: int) -> list[torch.Generator | None]:
    """One generator per image: a sequence is checked against ``batch``, a single one is shared.

    Examples
    --------
    >>> gens = per_image_generators([torch.Generator().manual_seed(i) for i in range(2)], 2)
    >>> len(gens)
    2
    """
    if generator is None or isinstance(generator, torch.Generator):
        return [generator] * batch
    gens = list(generator)
    if len(gens) != batch:
        raise ValueError(f"got {len(gens)} generators for a batch of {batch} images")
    return gens


def _random_start(
    shape: tuple[int, ...],
    generator: GeneratorArg,
    batch: int,
    *,
    sd: float,
    mean: float = 0.0,
    device: torch.device | str | None = None,
) -> Tensor:
    """The parameter a parametrization starts from: ``mean + sd * N(0, 1)``, ``[batch, *shape]``.

    A leaf tensor on ``device`` that requires grad. Each image draws from its own generator, so
    image ``i`` of a batch equals a single run seeded like image ``i``.
    """
    gens = per_image_generators(generator, batch)
    noise = torch.stack([torch.randn(shape, generator=g) for g in gens])
    return (noise * sd + mean).to(device).requires_grad_(True)


def rfft2d_freqs(h: int, w: int) -> np.ndarray:
    """Frequency magnitude of every ``rfft2`` coefficient of an ``h x w`` image, shape ``[h, w//2+1]``.

    Examples
    --------
    >>> rfft2d_freqs(4, 4).shape
    (4, 3)
    """
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fx * fx + fy * fy)


def fourier_scale(h: int, w: int, decay_power: float = 1.0) -> np.ndarray:
    """The 1/f amplitude scale Lucid applies to each Fourier coefficient (float64 ``[h, w//2+1]``).

    Low frequencies get large amplitudes, so equal steps on all coefficients change the image like
    natural-image statistics would: smooth shapes first, fine texture later.

    Examples
    --------
    >>> float(fourier_scale(8, 8)[0, 0])
    8.0
    """
    return 1.0 / np.maximum(rfft2d_freqs(h, w), 1.0 / max(h, w)) ** decay_power


def fourier_image(
    size: int | tuple[int, int],
    *,
    batch: int = 1,
    channels: int = 3,
    sd: float = 0.01,
    decay_power: float = 1.0,
    generator: GeneratorArg = None,
    device: torch.device | str | None = None,
) -> tuple[list[Tensor], ImageFn]:
    """A batch of images stored as 1/f-scaled Fourier coefficients (unbounded values, not yet RGB).

    The image is ``irfft2(scale * spectrum, norm="ortho") / 4`` with ``scale = fourier_scale(h, w)``;
    the parameter is the spectrum as real/imaginary pairs, shape ``[B, C, H, W//2+1, 2]``.

    Examples
    --------
    >>> params, image_fn = fourier_image(32, batch=2)
    >>> tuple(image_fn().shape)
    (2, 3, 32, 32)
    """
    h, w = _size_hw(size)
    spectrum = _random_start((channels, h, w // 2 + 1, 2), generator, batch, sd=sd, device=device)
    scale = torch.as_tensor(fourier_scale(h, w, decay_power), dtype=torch.float32, device=device)

    def image_fn() -> Tensor:
        coeffs = torch.view_as_complex(spectrum) * scale
        return torch.fft.irfft2(coeffs, s=(h, w), norm="ortho") / _FOURIER_DIVISOR

    return [spectrum], image_fn


def pixel_image(
    size: int | tuple[int, int],
    *,
    batch: int = 1,
    channels: int = 3,
    sd: float = 0.01,
    mean: float = 0.0,
    generator: GeneratorArg = None,
    device: torch.device | str | None = None,
) -> tuple[list[Tensor], ImageFn]:
    """A batch of images stored pixel by pixel: ``mean + sd * N(0, 1)`` at the start.

    Examples
    --------
    >>> params, image_fn = pixel_image(16, channels=1)
    >>> tuple(image_fn().shape)
    (1, 1, 16, 16)
    """
    h, w = _size_hw(size)
    pixels = _random_start((channels, h, w), generator, batch, sd=sd, mean=mean, device=device)
    return [pixels], lambda: pixels


def decorrelate_colors(image: Tensor) -> Tensor:
    """Map a 3-channel image from the decorrelated colour basis to RGB (other channel counts pass).

    Examples
    --------
    >>> decorrelate_colors(torch.zeros(1, 3, 2, 2)).shape
    torch.Size([1, 3, 2, 2])
    """
    if image.shape[1] != 3:
        return image
    matrix = torch.as_tensor(_COLOR_CORRELATION, dtype=image.dtype, device=image.device)
    # A broadcast matmul over [3, H*W] pixel columns: ~5x faster than einsum's bmm on CPU.
    return (matrix @ image.flatten(2)).view_as(image)


def to_rgb(image_fn: ImageFn, *, decorrelate: bool = True, sigmoid: bool = True) -> ImageFn:
    """Wrap ``image_fn`` so it yields displayable values: decorrelated colour, then a sigmoid to [0, 1].

    Examples
    --------
    >>> params, raw = fourier_image(8)
    >>> float(to_rgb(raw)().min()) >= 0.0
    True
    """

    def rgb_fn() -> Tensor:
        image = image_fn()
        if decorrelate:
            image = decorrelate_colors(image)
        return torch.sigmoid(image) if sigmoid else image

    return rgb_fn


def image(
    size: int | tuple[int, int],
    *,
    batch: int = 1,
    channels: int = 3,
    fft: bool = True,
    decorrelate: bool = True,
    sigmoid: bool = True,
    sd: float = 0.01,
    mean: float = 0.0,
    generator: GeneratorArg = None,
    device: torch.device | str | None = None,
) -> tuple[list[Tensor], ImageFn]:
    """An image to optimize: Fourier (or pixel) parameters, then ``to_rgb``.

    The one entry point ``maximize`` builds its images with. The defaults are Lucid's image:
    1/f Fourier parameters, decorrelated colour, a sigmoid to [0, 1]. ``mean`` is the starting
    grey level of a pixel image (a Fourier image starts at 0).

    Examples
    --------
    >>> params, image_fn = image(64, batch=4, generator=torch.Generator().manual_seed(0))
    >>> tuple(image_fn().shape)
    (4, 3, 64, 64)
    >>> _, plain = image(8, fft=False, decorrelate=False, sigmoid=False, sd=0.0, mean=0.5)
    >>> float(plain().mean())
    0.5
    """
    if fft and mean != 0.0:
        raise ValueError(f"mean={mean!r} needs fft=False: a Fourier image starts at 0")
    common = {"batch": batch, "channels": channels, "sd": sd, "generator": generator}
    if fft:
        params, raw = fourier_image(size, device=device, **common)
    else:
        params, raw = pixel_image(size, mean=mean, device=device, **common)
    return params, to_rgb(raw, decorrelate=decorrelate, sigmoid=sigmoid)


def saturation(raw: Tensor, headroom: float) -> Tensor:
    """How far an image's values before the sigmoid stray past ``+-headroom``, summed over images.

    ``mean(relu(|raw| - headroom)^2)`` per image: zero while every value stays inside, so it never
    touches a picture that is not about to blow out. The sigmoid maps 6.2 to 254.5/255: values
    past that show as pure white (or black), which is what this keeps them from.

    Examples
    --------
    >>> float(saturation(torch.tensor([[[[0.0, 5.0]]]]), 4.0))
    0.5
    """
    excess = torch.relu(raw.abs() - headroom)
    return excess.pow(2).flatten(1).mean(1).sum()
