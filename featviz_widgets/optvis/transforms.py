"""Random image transforms that make optimized pictures robust (and therefore readable).

A transform is a callable ``t(images, generator) -> images`` on a ``[B, C, H, W]`` batch. ``generator``
is a ``torch.Generator`` or one generator per image: every random choice for image ``i`` is drawn from
its own generator, so the same seed gives the same picture whether the image runs alone or in a batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .params import GeneratorArg, per_image_generators

Transform = Callable[[Tensor, GeneratorArg], Tensor]


def _draw(values: Sequence[float], gens: list[torch.Generator | None]) -> list[float]:
    # torch.randint on the per-image generator keeps the draws reproducible and independent of NumPy.
    picks = [int(torch.randint(len(values), (1,), generator=g)) for g in gens]
    return [float(values[i]) for i in picks]


def _affine(images: Tensor, matrices: list[list[list[float]]]) -> Tensor:
    # Image i is resampled through its own 2x3 matrix; the canvas size stays the same and the border
    # is replicated so no black corners leak into the objective.
    theta = torch.tensor(matrices, dtype=images.dtype, device=images.device)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def pad(width: int, *, mode: str = "constant", value: float = 0.5) -> Transform:
    """Pad every side by ``width`` pixels (``mode`` as in ``torch.nn.functional.pad``).

    Examples
    --------
    >>> pad(2)(torch.zeros(1, 3, 4, 4), None).shape
    torch.Size([1, 3, 8, 8])
    """
    if width < 0:
        raise ValueError(f"pad width must be >= 0, got {width}")

    def apply(images: Tensor, generator: GeneratorArg = None) -> Tensor:
        fill = value if mode == "constant" else None
        return F.pad(images, (width,) * 4, mode=mode, value=fill)

    return apply


def jitter(d: int) -> Transform:
    """Crop each image at a random offset in ``[0, d]``: the result is ``d`` pixels smaller per side pair.

    Examples
    --------
    >>> jitter(4)(torch.zeros(2, 3, 16, 16), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 3, 12, 12])
    """
    if d < 1:
        raise ValueError(f"jitter distance must be >= 1, got {d}")

    def apply(images: Tensor, generator: GeneratorArg = None) -> Tensor:
        h, w = images.shape[-2] - d, images.shape[-1] - d
        if h < 1 or w < 1:
            raise ValueError(f"jitter({d}) needs images larger than {d} pixels")
        gens = per_image_generators(generator, images.shape[0])
        offsets = [torch.randint(d + 1, (2,), generator=g).tolist() for g in gens]
        crops = [img[:, y : y + h, x : x + w] for img, (y, x) in zip(images, offsets, strict=True)]
        return torch.stack(crops)

    return apply


def random_scale(scales: Sequence[float]) -> Transform:
    """Zoom each image about its centre by a factor drawn from ``scales`` (canvas size unchanged).

    Examples
    --------
    >>> random_scale([0.9, 1.1])(torch.zeros(1, 3, 8, 8), torch.Generator()).shape
    torch.Size([1, 3, 8, 8])
    """
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f"scales must be a non-empty list of positive factors, got {scales!r}")

    def apply(images: Tensor, generator: GeneratorArg = None) -> Tensor:
        drawn = _draw(scales, per_image_generators(generator, images.shape[0]))
        if all(s == 1.0 for s in drawn):
            return images
        return _affine(images, [[[1 / s, 0.0, 0.0], [0.0, 1 / s, 0.0]] for s in drawn])

    return apply


def random_rotate(degrees: Sequence[float]) -> Transform:
    """Rotate each image about its centre by an angle (degrees) drawn from ``degrees``.

    Examples
    --------
    >>> random_rotate([-5, 0, 5])(torch.zeros(1, 3, 8, 8), torch.Generator()).shape
    torch.Size([1, 3, 8, 8])
    """
    if not degrees:
        raise ValueError("degrees must be a non-empty list of angles")

    def apply(images: Tensor, generator: GeneratorArg = None) -> Tensor:
        drawn = _draw(degrees, per_image_generators(generator, images.shape[0]))
        if all(a == 0.0 for a in drawn):
            return images
        h, w = images.shape[-2:]
        mats = []
        for angle in drawn:
            cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
            # affine_grid works in [-1, 1] coordinates; the aspect factors keep the rotation rigid.
            mats.append([[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]])
        return _affine(images, mats)

    return apply


def compose(transforms: Sequence[Transform]) -> Transform:
    """Apply ``transforms`` in order, all drawing from the same generator(s).

    Examples
    --------
    >>> t = compose([pad(4), jitter(2)])
    >>> t(torch.zeros(1, 3, 8, 8), torch.Generator()).shape
    torch.Size([1, 3, 14, 14])
    """
    steps = tuple(transforms)

    def apply(images: Tensor, generator: GeneratorArg = None) -> Tensor:
        gens = per_image_generators(generator, images.shape[0])
        for transform in steps:
            images = transform(images, gens)
        return images

    return apply


def standard_transforms() -> list[Transform]:
    """Lucid's standard robustness transforms: pad 12, jitter 8, scale +-10 %, rotate +-10 deg, jitter 4.

    Examples
    --------
    >>> t = compose(standard_transforms())
    >>> t(torch.zeros(1, 3, 128, 128), torch.Generator().manual_seed(0)).shape
    torch.Size([1, 3, 140, 140])
    """
    return [
        pad(12, mode="constant", value=0.5),
        jitter(8),
        random_scale([1 + (i - 5) / 50 for i in range(11)]),
        random_rotate(list(range(-10, 11)) + 5 * [0]),
        jitter(4),
    ]
