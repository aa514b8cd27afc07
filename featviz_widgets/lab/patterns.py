"""A generated dataset of small pattern images for teaching labs.

Seven classes a first convolution layer can learn to tell apart: stripes at four orientations,
checkerboards, disks and squares, each with a random foreground / background colour pair and pixel
noise. Generation is vectorized NumPy (a few thousand 32x32 images in well under a second) and fully
determined by the seed, so a class of students sees the same data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["CLASS_NAMES", "PatternDataset", "make_patterns"]

CLASS_NAMES: tuple[str, ...] = (
    "horizontal stripes",
    "vertical stripes",
    "diagonal stripes /",
    "diagonal stripes \\",
    "checkerboard",
    "disk",
    "square",
)

# Direction (degrees, y axis pointing down) in which the stripe intensity varies, per stripe class:
# horizontal stripes vary along y, vertical along x, "/" along the (1, 1) diagonal.
_STRIPE_ANGLES = (90.0, 0.0, 45.0, 135.0)


@dataclass(frozen=True)
class PatternDataset:
    """Images, integer labels and the class names they index.

    Attributes
    ----------
    images : torch.Tensor
        float32 ``[N, 3, H, W]`` in ``[0, 1]``.
    labels : torch.Tensor
        int64 ``[N]``, indices into ``class_names``.
    class_names : tuple of str
        Human-readable class names.
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])


def make_patterns(
    n: int = 2800,
    *,
    size: int = 32,
    seed: int = 0,
    noise: float = 0.08,
) -> PatternDataset:
    """Generate ``n`` pattern images, balanced over :data:`CLASS_NAMES`.

    Parameters
    ----------
    n : int
        Number of images; each class gets ``n // 7`` or ``n // 7 + 1`` of them.
    size : int
        Height and width in pixels (at least 16).
    seed : int
        Seed of the NumPy generator; the same seed gives the same tensors.
    noise : float
        Standard deviation of the Gaussian pixel noise (images are clipped to ``[0, 1]``).

    Returns
    -------
    PatternDataset

    Examples
    --------
    >>> data = make_patterns(70, seed=1)
    >>> data.images.shape, data.class_names[data.labels[0]] in CLASS_NAMES
    (torch.Size([70, 3, 32, 32]), True)
    """
    _validate(n, size, noise)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(CLASS_NAMES))
    masks = np.empty((n, size, size), dtype=np.float32)
    for label, make_mask in enumerate(_MASK_MAKERS):
        rows = np.flatnonzero(labels == label)
        if rows.size:
            masks[rows] = make_mask(rng, rows.size, size)
    background, foreground = _colour_pairs(rng, n)
    images = (
        background[:, :, None, None] + masks[:, None] * (foreground - background)[:, :, None, None]
    )
    images += noise * rng.standard_normal(images.shape, dtype=np.float32)
    np.clip(images, 0.0, 1.0, out=images)
    return PatternDataset(
        images=torch.from_numpy(images),
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=CLASS_NAMES,
    )


def _validate(n: int, size: int, noise: float) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(size, int) or size < 16:
        raise ValueError(f"size must be an int >= 16, got {size!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates shaped ``[1, size, size]`` so they broadcast against per-image params."""
    coords = np.arange(size, dtype=np.float32) + 0.5
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    return yy[None], xx[None]


def _column(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32)[:, None, None]


def _stripes(angle: float) -> Callable[[np.random.Generator, int, int], np.ndarray]:
    def make(rng: np.random.Generator, m: int, size: int) -> np.ndarray:
        yy, xx = _grid(size)
        # A little jitter keeps the classes from being a single exact template.
        theta = np.deg2rad(angle + rng.uniform(-8.0, 8.0, m))
        period = _column(rng.uniform(4.0, 9.0, m))
        phase = _column(rng.uniform(0.0, 2.0 * np.pi, m))
        along = xx * _column(np.cos(theta)) + yy * _column(np.sin(theta))
        return (np.sin(2.0 * np.pi * along / period + phase) > 0).astype(np.float32)

    return make


def _checkerboard(rng: np.random.Generator, m: int, size: int) -> np.ndarray:
    yy, xx = _grid(size)
    cell = _column(rng.uniform(3.0, 7.0, m))
    offset_y = _column(rng.uniform(0.0, 8.0, m))
    offset_x = _column(rng.uniform(0.0, 8.0, m))
    parity = np.floor((yy + offset_y) / cell) + np.floor((xx + offset_x) / cell)
    return (parity % 2).astype(np.float32)


def _centres_and_extent(
    rng: np.random.Generator, m: int, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A half-extent between size/6 and size/3, and a centre that keeps the whole shape visible.

    The one-pixel margin keeps the outline off the border, where a square would lose its corners.
    """
    extent = rng.uniform(size / 6.0, size / 3.0, m)
    cy = rng.uniform(extent + 1.0, size - extent - 1.0)
    cx = rng.uniform(extent + 1.0, size - extent - 1.0)
    return _column(cy), _column(cx), _column(extent)


def _disk(rng: np.random.Generator, m: int, size: int) -> np.ndarray:
    yy, xx = _grid(size)
    cy, cx, radius = _centres_and_extent(rng, m, size)
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2).astype(np.float32)


def _square(rng: np.random.Generator, m: int, size: int) -> np.ndarray:
    yy, xx = _grid(size)
    cy, cx, half = _centres_and_extent(rng, m, size)
    return (np.maximum(np.abs(yy - cy), np.abs(xx - cx)) <= half).astype(np.float32)


_MASK_MAKERS = (*(_stripes(a) for a in _STRIPE_ANGLES), _checkerboard, _disk, _square)


def _colour_pairs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random colour pairs: a dark colour and the same colour lightened by 0.35..0.65 in every channel.

    The contrast is the same in all three channels and randomly light-on-dark or dark-on-light, so
    the pattern is told by brightness, not by hue: the first layer then learns grey, oriented edge
    detectors instead of colour blobs. The colours themselves stay random (a tinted pair per image).
    """
    dark = rng.uniform(0.0, 0.3, (n, 3)).astype(np.float32)
    light = dark + rng.uniform(0.35, 0.65, (n, 1)).astype(np.float32)
    swap = (rng.random(n) < 0.5)[:, None]
    return np.where(swap, light, dark), np.where(swap, dark, light)
