"""Where the renderer puts things: grid layouts and the pixel rectangles of the tiles it draws.

The drawing code (``_grid``, ``_maps``, ``_kernels``) plans its pictures with these functions, and a
widget that lets the user point at a tile asks the same functions where the tiles are
(:func:`tile_boxes`, :func:`strip_boxes`), so the rectangles are the ones drawn, never a guess.
Boxes are ``(x, y, width, height)`` in PNG pixels, one row per tile in drawing order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GridLayout:
    """Geometry of a channel grid.

    ``tile_h``/``tile_w`` are the drawn tile size: the map times ``scale`` (nearest-neighbour upscaling of
    small maps), or divided by ``step`` (box-averaged downscaling, only to stay under ``max_pixels``).
    Channels ``start .. start + count - 1`` are drawn row by row; the last row may be partial.
    """

    rows: int
    cols: int
    tile_h: int
    tile_w: int
    pad: int
    scale: int
    start: int
    count: int
    step: int = 1

    @property
    def height(self) -> int:
        """Image height: ``rows * tile_h + (rows - 1) * pad``."""
        return self.rows * self.tile_h + (self.rows - 1) * self.pad

    @property
    def width(self) -> int:
        """Image width: ``cols * tile_w + (cols - 1) * pad``."""
        return self.cols * self.tile_w + (self.cols - 1) * self.pad


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _area(rows: int, cols: int, tile_h: int, tile_w: int, pad: int) -> int:
    return (rows * tile_h + (rows - 1) * pad) * (cols * tile_w + (cols - 1) * pad)


def grid_layout(
    n_channels: int,
    h: int,
    w: int,
    cols: int,
    *,
    start: int = 0,
    count: int | None = None,
    pad: int = 1,
    min_tile: int = 32,
    max_pixels: int = 4_000_000,
) -> GridLayout:
    """Plan a grid of ``count`` maps of ``h x w`` starting at channel ``start``.

    ``count=None`` draws every channel from ``start``; a page running past the end is cut short, and
    ``cols`` shrinks to ``count`` when there are fewer maps than columns. Maps smaller than ``min_tile``
    are upscaled by the integer factor ``ceil(min_tile / max(h, w))``. Pixel budget: when the image would
    exceed ``max_pixels``, the upscale factor is lowered first, then tiles are box-downscaled by an
    integer ``step``; every requested channel is always drawn (page with ``start``/``count`` for fewer).

    Examples
    --------
    >>> grid_layout(2048, 7, 7, 16, count=256)
    GridLayout(rows=16, cols=16, tile_h=35, tile_w=35, pad=1, scale=5, start=0, count=256, step=1)
    """
    n_channels = _check_int("n_channels", n_channels, 1)
    h, w = _check_int("h", h, 1), _check_int("w", w, 1)
    cols, pad = _check_int("cols", cols, 1), _check_int("pad", pad, 0)
    min_tile, max_pixels = (
        _check_int("min_tile", min_tile, 1),
        _check_int("max_pixels", max_pixels, 1),
    )
    start = _check_int("start", start, 0)
    if start >= n_channels:
        raise ValueError(f"start={start} is past the last channel ({n_channels - 1})")
    count = (
        n_channels - start
        if count is None
        else min(_check_int("count", count, 1), n_channels - start)
    )
    cols = min(cols, count)
    rows = -(-count // cols)
    scale = max(1, -(-min_tile // max(h, w)))
    while scale > 1 and _area(rows, cols, h * scale, w * scale, pad) > max_pixels:
        scale -= 1
    step = 1
    while _area(rows, cols, -(-h // step), -(-w // step), pad) > max_pixels:
        if step >= max(h, w):
            raise ValueError(
                f"{count} tiles do not fit in max_pixels={max_pixels} even at one pixel each; "
                "draw fewer with count= (paging) or raise max_pixels"
            )
        step += 1
    tile_h, tile_w = (h * scale, w * scale) if step == 1 else (-(-h // step), -(-w // step))
    return GridLayout(rows, cols, tile_h, tile_w, pad, scale, start, count, step)


def single_layout(h: int, w: int, size: int) -> GridLayout:
    """The one-tile layout :func:`single` draws an ``h x w`` map with (long side about ``size``).

    The longer side becomes the largest integer multiple of the map that fits in ``size``; maps
    larger than ``size`` are box-downscaled by the smallest integer step that fits.

    Examples
    --------
    >>> single_layout(7, 7, 256).tile_h  # 7 * 36
    252
    """
    h, w, size = _check_int("h", h, 1), _check_int("w", w, 1), _check_int("size", size, 1)
    scale, step = max(1, size // max(h, w)), max(1, math.ceil(max(h, w) / size))
    tile_h, tile_w = (h * scale, w * scale) if step == 1 else (-(-h // step), -(-w // step))
    return GridLayout(1, 1, tile_h, tile_w, 0, scale, 0, 1, step)


def sheet_layout(n: int, h: int, w: int, cols: int, pad: int) -> GridLayout:
    """The layout :func:`tile_rgb` gives ``n`` pictures of ``h x w`` (``cols`` shrinks to ``n``)."""
    n = _check_int("n", n, 1)
    cols, pad = min(_check_int("cols", cols, 1), n), _check_int("pad", pad, 0)
    return GridLayout(-(-n // cols), cols, h, w, pad, scale=1, start=0, count=n)


def tile_boxes(layout: GridLayout) -> np.ndarray:
    """Pixel rectangles of the tiles of ``layout``: int64 ``[count, 4]`` rows ``(x, y, w, h)``.

    Tile ``i`` shows channel ``layout.start + i`` (of the order the maps were given in), row by
    row; the separators (``pad`` pixels) and the empty slots of a partial last row are outside
    every box.

    Examples
    --------
    >>> tile_boxes(grid_layout(3, 7, 7, 2)).tolist()  # 35-px tiles, 1-px separators
    [[0, 0, 35, 35], [36, 0, 35, 35], [0, 36, 35, 35]]
    """
    index = np.arange(layout.count)
    x = (index % layout.cols) * (layout.tile_w + layout.pad)
    y = (index // layout.cols) * (layout.tile_h + layout.pad)
    size = np.ones_like(index)
    return np.stack([x, y, size * layout.tile_w, size * layout.tile_h], axis=1).astype(np.int64)


def strip_cells(n: int, wrap: int) -> tuple[int, int, int]:
    """``(rows, per_row, cell_w)`` of a :func:`vector_strip` of ``n`` values wrapped at ``wrap``."""
    per_row = min(n, wrap)
    return -(-n // wrap), per_row, max(1, 256 // per_row)


def strip_boxes(n: int, *, height: int = 32, wrap: int = 1024) -> np.ndarray:
    """Pixel rectangles of the ``n`` cells of a :func:`vector_strip`: int64 ``[n, 4]`` ``(x, y, w, h)``.

    Examples
    --------
    >>> strip_boxes(3).tolist()  # 85-px cells, one row
    [[0, 0, 85, 32], [85, 0, 85, 32], [170, 0, 85, 32]]
    """
    n, height = _check_int("n", n, 1), _check_int("height", height, 1)
    _, per_row, cell_w = strip_cells(n, _check_int("wrap", wrap, 1))
    index = np.arange(n)
    size = np.ones_like(index)
    x, y = (index % per_row) * cell_w, (index // per_row) * height
    return np.stack([x, y, size * cell_w, size * height], axis=1).astype(np.int64)
