"""Random image transforms that make optimized pictures robust (and therefore readable).

A transform is a callable ``t(images, generator) -> images`` on a ``[B, C, H, W]`` batch. ``generator``
is a ``torch.Generator`` or one generator per image: every random choice for image ``i`` is drawn from
its own generator, so the same seed gives the same picture whether the image runs alone or in a batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .params import GeneratorArg, per_image_generators

Transform = Callable[[Tensor, GeneratorArg], Tensor]


def _draw(values: Sequence[float], gens: list[torch.Generator | None]) -> list[float]:
    # torch.randint on the per-image generator keeps the draws reproducible and independent of NumPy.
    picks = [int(torch.randint(len(values), (1,), generator=g)) for g in gens]
    return [float(values[i]) for i in picks]


def _resample(images: Tensor, thetas: list[np.ndarray]) -> Tensor:
    # Image i is resampled through its own matrix (output -> input coordinates in [-1, 1]); the
    # canvas size stays the same and the border is replicated, so no black corners leak in.
    theta = torch.as_tensor(np.stack(thetas)[:, :2], dtype=images.dtype, device=images.device)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class _RandomAffine:
    """A random per-image affine resample; ``compose`` fuses neighbours into one ``grid_sample``."""

    def __init__(
        self, values: Sequence[float], matrix: Callable[[float, int, int], np.ndarray]
    ) -> None:
        self._values = list(values)
        self._matrix = matrix

    def thetas(self, gens: list[torch.Generator | None], h: int, w: int) -> list[np.ndarray]:
        return [self._matrix(v, h, w) for v in _draw(self._values, gens)]

    def __call__(self, images: Tensor, generator: GeneratorArg = None) -> Tensor:
        return _apply_affine(images, [self], per_image_generators(generator, images.shape[0]))


def _apply_affine(images: Tensor, steps: list[_RandomAffine], gens: list) -> Tensor:
    h, w = images.shape[-2:]
    thetas = [np.eye(3)] * images.shape[0]
    for step in steps:  # applying A then B samples the input at theta_A @ theta_B
        thetas = [a @ b for a, b in zip(thetas, step.thetas(gens, h, w), strict=True)]
    if all(np.array_equal(t, np.eye(3)) for t in thetas):
        return images
    return _resample(images, thetas)


def _scale_matrix(factor: float, h: int, w: int) -> np.ndarray:
    return np.diag([1 / factor, 1 / factor, 1.0])


def _rotation_matrix(degrees: float, h: int, w: int) -> np.ndarray:
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    # affine_grid's [-1, 1] coordinates stretch a non-square image: the aspect factors undo that.
    return np.array([[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0], [0.0, 0.0, 1.0]])


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
    return _RandomAffine(scales, _scale_matrix)


def random_rotate(degrees: Sequence[float]) -> Transform:
    """Rotate each image about its centre by an angle (degrees) drawn from ``degrees``.

    Examples
    --------
    >>> random_rotate([-5, 0, 5])(torch.zeros(1, 3, 8, 8), torch.Generator()).shape
    torch.Size([1, 3, 8, 8])
    """
    if not degrees:
        raise ValueError("degrees must be a non-empty list of angles")
    return _RandomAffine(degrees, _rotation_matrix)


def resize(size: int) -> Transform:
    """Resize every image to ``size`` x ``size`` (bilinear, no antialias; differentiable).

    The last of the standard transforms: pad, jitter and scale change the canvas, and models of one
    fixed input size (ViT, MaxViT) accept exactly that size only.

    Examples
    --------
    >>> resize(8)(torch.zeros(2, 3, 13, 11), None).shape
    torch.Size([2, 3, 8, 8])
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"resize size must be an int >= 1, got {size!r}")

    def apply(images: Tensor, generator: GeneratorArg = None) -> Tensor:
        if tuple(images.shape[-2:]) == (size, size):
            return images
        return F.interpolate(
            images, size=(size, size), mode="bilinear", align_corners=False, antialias=False
        )

    return apply


def compose(transforms: Sequence[Transform]) -> Transform:
    """Apply ``transforms`` in order, all drawing from the same generator(s).

    Neighbouring ``random_scale`` / ``random_rotate`` steps are fused into one resample.

    Examples
    --------
    >>> t = compose([pad(4), jitter(2)])
    >>> t(torch.zeros(1, 3, 8, 8), torch.Generator()).shape
    torch.Size([1, 3, 14, 14])
    """
    groups: list[Transform | list[_RandomAffine]] = []
    for transform in transforms:  # neighbouring scale/rotate: one resample, less blur and time
        if isinstance(transform, _RandomAffine) and groups and isinstance(groups[-1], list):
            groups[-1].append(transform)
        else:
            groups.append([transform] if isinstance(transform, _RandomAffine) else transform)

    def apply(images: Tensor, generator: GeneratorArg = None) -> Tensor:
        gens = per_image_generators(generator, images.shape[0])
        for group in groups:
            images = (
                _apply_affine(images, group, gens)
                if isinstance(group, list)
                else group(images, gens)
            )
        return images

    return apply


def standard_transforms(size: int | None = None) -> list[Transform]:
    """Lucid's standard robustness transforms: pad 12, jitter 8, scale +-10 %, rotate +-10 deg, jitter 4.

    Parameters
    ----------
    size : int, optional
        When given, a final ``resize(size)`` brings the result back to ``size`` x ``size`` (pad and
        jitter alone leave 128 px images at 140 px), so the model sees exactly the optimized size.

    Examples
    --------
    >>> t = compose(standard_transforms(128))
    >>> t(torch.zeros(1, 3, 128, 128), torch.Generator().manual_seed(0)).shape
    torch.Size([1, 3, 128, 128])
    """
    chain = [
        pad(12, mode="constant", value=0.5),
        jitter(8),
        random_scale([1 + (i - 5) / 50 for i in range(11)]),
        random_rotate(list(range(-10, 11)) + 5 * [0]),
        jitter(4),
    ]
    return chain if size is None else [*chain, resize(size)]
