"""Weights as pictures: conv kernels (RGB tiles, grey slices, depthwise) and Linear / 1x1 matrices."""

from __future__ import annotations

import math

import numpy as np

from ._color import _palette, _quantize
from ._grid import _check_int, _downscale, _tile, grid, grid_layout
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
    n_in = array.shape[1]
    tiles = {"cols": cols, "pad": pad, "min_tile": min_tile, "max_pixels": max_pixels}
    if n_in == 3:
        return _rgb_tiles(array, start, count, **tiles)
    if n_in == 1:
        tiles["cols"] = math.ceil(math.sqrt(array.shape[0])) if cols is None else cols
        return grid(array[:, 0], start=start, count=count, cmap=cmap or "gray", **tiles)
    count = max(1, _SLICES_PER_PAGE // n_in) if count is None else count
    slices = array[start : start + count].reshape(-1, *array.shape[2:])
    tiles["cols"] = min(n_in, 64) if cols is None else cols
    return grid(slices, cmap=cmap or "gray", **tiles)


def _rgb_tiles(array, start, count, *, cols, pad, min_tile, max_pixels) -> np.ndarray:
    """First-layer filters: each output kernel's three input slices shown as one colour tile."""
    n_out, _, kh, kw = array.shape
    cols = math.ceil(math.sqrt(n_out - start if count is None else count)) if cols is None else cols
    layout = grid_layout(
        n_out, kh, kw, cols, start=start, count=count, pad=pad, min_tile=min_tile,
        max_pixels=max_pixels,
    )  # fmt: skip
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
    h, w = page.shape
    step = max(1, math.ceil(math.sqrt(h * w / max_pixels)))
    while -(-h // step) * -(-w // step) > max_pixels:  # ceil division can leave it one over
        step += 1
    small = page if step == 1 else _downscale(page[None], step)[0]
    index = _quantize(_signed01(small, _peak(matrix)), 256)
    # stretch short sides so a 10 x 84 matrix is not a sliver; never past max_pixels
    scale_h = max(1, min(_MATRIX_SIDE // index.shape[0], max_pixels // index.size))
    scale_w = max(1, min(_MATRIX_SIDE // index.shape[1], max_pixels // (index.size * scale_h)))
    if scale_h * scale_w > 1:
        index = np.repeat(np.repeat(index, scale_h, axis=0), scale_w, axis=1)
    return np.take(_palette(cmap, 256), index, axis=0)


def _peak(matrix: np.ndarray) -> float:
    """Largest finite ``|weight|`` (two reductions; the finite mask only when something is not)."""
    lo, hi = float(matrix.min()), float(matrix.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        flat = matrix.reshape(1, -1)
        lo_a, hi_a = _min_max(flat, np.isfinite(flat))
        lo, hi = float(lo_a[0]), float(hi_a[0])
    return max(abs(lo), abs(hi))
