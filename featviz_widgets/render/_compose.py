"""Pictures put together for display: small results enlarged, kernels beside a picture.

NumPy only.

Examples
--------
>>> enlarged(np.zeros((64, 64, 3), np.uint8)).shape  # 64 px shown 4x (256 px)
(256, 256, 3)
"""

from __future__ import annotations

import numpy as np

from ._grid import tile_rgb

DISPLAY_MIN = 256  # px: pictures smaller than this are shown enlarged by an integer factor


def enlarge_factor(shape: tuple[int, ...], min_side: int = DISPLAY_MIN) -> int:
    """The integer factor :func:`enlarged` applies to a picture of ``shape`` (1: none)."""
    return max(1, min_side // max(shape[:2]))


def enlarged(picture: np.ndarray, min_side: int = DISPLAY_MIN) -> np.ndarray:
    """``picture`` repeated by an integer factor until its longer side nears ``min_side``: small
    pictures (64-128 px) keep crisp pixels rather than being shown thumbnail-size."""
    scale = enlarge_factor(picture.shape, min_side)
    return picture if scale == 1 else picture.repeat(scale, axis=0).repeat(scale, axis=1)


def with_kernels(picture: np.ndarray, kernels: list[np.ndarray]) -> np.ndarray:
    """``picture`` with the kernels (uint8 RGB tiles of one size) beside it on its right.

    The kernels are upsampled by an integer factor to fill the picture's height: one tile, or a
    square-ish grid of them; white fills the rest of the panel and a gap of ``height / 32`` px
    (at least 4) separates the two.
    """
    height = picture.shape[0]
    cols = int(np.ceil(np.sqrt(len(kernels))))
    rows = -(-len(kernels) // cols)
    k = kernels[0].shape[0]
    factor = max(1, (height - 2 * (rows - 1)) // (rows * k))
    tiles = [tile.repeat(factor, axis=0).repeat(factor, axis=1) for tile in kernels]
    grid = tile_rgb(tiles, cols=cols)
    panel = np.full((height, grid.shape[1], 3), 255, np.uint8)
    panel[: grid.shape[0]] = grid[:height]
    gap = np.full((height, max(4, height // 32), 3), 255, np.uint8)
    return np.concatenate([picture, gap, panel], axis=1)
