"""Weights as pictures: conv kernels (RGB tiles, grey slices, depthwise) and Linear / 1x1 matrices."""

from __future__ import annotations

import math

import numpy as np

from ._color import _palette, _quantize
from ._geometry import GridLayout, _check_int, grid_layout, tile_boxes
from ._grid import _downscale, _tile, grid
from ._norm import _min_max, _normalize, _signed01

# default page of a general conv: whole output kernels, up to this many slices
_SLICES_PER_PAGE = 1024
_MATRIX_SIDE = 128  # Linear / 1x1 matrices: short sides are stretched to about this many pixels


def kernels(
    weight: np.ndarray,
    *,
    cols: int | None = None,
    start: int = 0,
    count: int | None = None,
    pad: int = 1,
    min_tile: int = 16,
    cmap: str | None = None,
    max_pixels: int = 4_000_000,
) -> np.ndarray:
    """Draw layer weights: uint8 ``[H, W, 3]``.

    - conv ``[out, 3, kh, kw]``: one RGB tile per output kernel, min-max over the whole kernel;
    - conv ``[out, 1, kh, kw]`` (depthwise or one input channel): one grey tile per output kernel;
    - other conv ``[out, in, kh, kw]``: one row of ``in`` grey slices per output kernel (wrapped at
      ``cols``, default ``min(in, 64)``), each slice min-max normalized on its own;
    - Linear ``[out, in]`` and 1x1 convs: the matrix as one heat image, zero-centred (``"signed"``) with
      ``cmap`` ``"RdBu_r"`` (negative blue, positive red); rows are outputs. The colour scale is the
      whole matrix's, so every page of rows uses the same colours; a page over ``max_pixels`` is
      block-averaged (mean of ``step x step`` weights per pixel).

    ``start``/``count`` page over output kernels (matrix rows). Default: all of them, except for a
    general conv, where a page holds as many whole kernels as make 1024 slices. Conv1d
    ``[out, in, k]`` is drawn as ``1 x k`` kernels.

    Examples
    --------
    >>> kernels(np.random.randn(64, 3, 7, 7)).shape  # 8 x 8 RGB tiles of 7 * 3 = 21 px
    (175, 175, 3)
    >>> kernels(np.random.randn(4096, 4096), start=256, count=256).shape  # rows 256..511
    (256, 4096, 3)
    """
    array = np.asarray(weight, dtype=np.float32)
    if array.ndim == 3:
        array = array[:, :, None, :]
    if array.ndim not in (2, 4) or array.size == 0:
        raise ValueError(
            f"kernels expects conv weights [out, in, kh, kw] (Conv1d [out, in, k]) or Linear weights "
            f"[out, in], got shape {array.shape}; for a Conv3d pick a depth slice, weight[:, :, d]"
        )
    start = _check_int("start", start, 0)
    if start >= array.shape[0]:
        raise ValueError(f"start={start} is past the last output kernel ({array.shape[0] - 1})")
    count = None if count is None else _check_int("count", count, 1)
    max_pixels = _check_int("max_pixels", max_pixels, 1)
    if array.ndim == 2 or array.shape[2:] == (1, 1):
        matrix = array.reshape(array.shape[:2])
        return _matrix(matrix, start, count, cmap or "RdBu_r", max_pixels)
    layout, per = _tile_plan(array.shape, cols, start, count, pad, min_tile, max_pixels)
    tiles = {"pad": pad, "min_tile": min_tile, "max_pixels": max_pixels, "cmap": cmap or "gray"}
    if per == 1 and array.shape[1] == 3:
        return _rgb_tiles(array, layout)
    if per == 1:
        return grid(array[:, 0], layout.cols, start=start, count=count, **tiles)
    slices = array[start : start + layout.count // per].reshape(-1, *array.shape[2:])
    return grid(slices, layout.cols, **tiles)


def _tile_plan(
    shape: tuple[int, ...], cols: int | None, start: int, count: int | None, pad: int,
    min_tile: int, max_pixels: int,
) -> tuple[GridLayout, int]:  # fmt: skip
    """The grid of a conv's kernel tiles, and how many tiles each output kernel takes.

    RGB (3 inputs) and one-input kernels: one tile per output, ``sqrt`` columns by default. Other
    convs: one grey slice per input, ``min(in, 64)`` columns, whole kernels up to 1024 slices.
    """
    n_out, n_in, kh, kw = shape
    plan = {"pad": pad, "min_tile": min_tile, "max_pixels": max_pixels}
    if n_in in (1, 3):
        shown = n_out if n_in == 1 else (n_out - start if count is None else count)
        cols = math.ceil(math.sqrt(shown)) if cols is None else cols
        return grid_layout(n_out, kh, kw, cols, start=start, count=count, **plan), 1
    count = max(1, _SLICES_PER_PAGE // n_in) if count is None else count
    n_slices = (min(start + count, n_out) - start) * n_in
    cols = min(n_in, 64) if cols is None else cols
    return grid_layout(n_slices, kh, kw, cols, **plan), n_in


def kernel_boxes(
    shape: tuple[int, ...],
    *,
    cols: int | None = None,
    start: int = 0,
    count: int | None = None,
    pad: int = 1,
    min_tile: int = 16,
    max_pixels: int = 4_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Where :func:`kernels` (same arguments) draws each output: ``(boxes, outputs)``.

    ``boxes`` is int64 ``[n, 4]`` ``(x, y, w, h)`` in picture pixels, ``outputs`` the output
    channel of each box: one box per kernel tile, per grey slice (a row of them per output), or
    per matrix row (a band of pixel rows; block-averaged rows share a band).

    Examples
    --------
    >>> boxes, outputs = kernel_boxes((4, 8, 3, 3), cols=4)  # 8 slices per output, 4 per row
    >>> outputs.tolist()[:10], boxes[9].tolist()  # 3x3 slices drawn 6x: 18-px tiles
    ([0, 0, 0, 0, 0, 0, 0, 0, 1, 1], [19, 38, 18, 18])
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3:
        shape = (shape[0], shape[1], 1, shape[2])
    if len(shape) not in (2, 4) or 0 in shape:
        raise ValueError(f"kernel_boxes expects a weight shape [out, in(, kh, kw)], got {shape}")
    start = _check_int("start", start, 0)
    if start >= shape[0]:
        raise ValueError(f"start={start} is past the last output kernel ({shape[0] - 1})")
    if len(shape) == 2 or shape[2:] == (1, 1):
        rows = (shape[0] if count is None else min(shape[0], start + count)) - start
        step, scale_h, scale_w = _matrix_plan(rows, shape[1], max_pixels)
        band = np.arange(rows) // step * scale_h
        width = -(-shape[1] // step) * scale_w
        boxes = np.stack([0 * band, band, 0 * band + width, 0 * band + scale_h], axis=1)
        return boxes.astype(np.int64), start + np.arange(rows)
    layout, per = _tile_plan(shape, cols, start, count, pad, min_tile, max_pixels)
    return tile_boxes(layout), start + np.arange(layout.count) // per  # tile i: output i // per


def _rgb_tiles(array: np.ndarray, layout: GridLayout) -> np.ndarray:
    """First-layer filters: each output kernel's three input slices shown as one colour tile."""
    page = array[layout.start : layout.start + layout.count]
    x01 = _normalize(page, "channel", page).transpose(0, 2, 3, 1)  # [n, kh, kw, RGB]
    if layout.step > 1:
        x01 = _downscale(x01, layout.step)
    rgb = np.rint(np.nan_to_num(x01, nan=0.0) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(_tile(rgb, layout, fill=255))


def _matrix(
    matrix: np.ndarray, start: int, count: int | None, cmap: str, max_pixels: int
) -> np.ndarray:
    """Rows ``start .. start + count - 1`` of a weight matrix as one zero-centred heat image.

    Block-averages before normalizing (the signed scale is affine, so the order does not change
    the picture) so a huge matrix costs one pass over the page, not several.
    """
    page = matrix[start : None if count is None else start + count]
    step, scale_h, scale_w = _matrix_plan(*page.shape, max_pixels)
    small = page if step == 1 else _downscale(page[None], step)[0]
    index = _quantize(_signed01(small, _peak(matrix)), 256)
    if scale_h * scale_w > 1:
        index = np.repeat(np.repeat(index, scale_h, axis=0), scale_w, axis=1)
    return np.take(_palette(cmap, 256), index, axis=0)


def _matrix_plan(h: int, w: int, max_pixels: int) -> tuple[int, int, int]:
    """``(step, scale_h, scale_w)`` of an ``h x w`` matrix page: block-average, then stretch."""
    step = max(1, math.ceil(math.sqrt(h * w / max_pixels)))
    while -(-h // step) * -(-w // step) > max_pixels:  # ceil division can leave it one over
        step += 1
    small_h, small_w = -(-h // step), -(-w // step)
    # stretch short sides so a 10 x 84 matrix is not a sliver; never past max_pixels
    scale_h = max(1, min(_MATRIX_SIDE // small_h, max_pixels // (small_h * small_w)))
    scale_w = max(1, min(_MATRIX_SIDE // small_w, max_pixels // (small_h * small_w * scale_h)))
    return step, scale_h, scale_w


def _peak(matrix: np.ndarray) -> float:
    """Largest finite ``|weight|`` (two reductions; the finite mask only when something is not)."""
    lo, hi = float(matrix.min()), float(matrix.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        flat = matrix.reshape(1, -1)
        lo_a, hi_a = _min_max(flat, np.isfinite(flat))
        lo, hi = float(lo_a[0]), float(hi_a[0])
    return max(abs(lo), abs(hi))
