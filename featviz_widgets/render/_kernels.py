"""Weights as pictures: conv kernels (RGB tiles, grey slices, depthwise) and Linear / 1x1 matrices."""

from __future__ import annotations

import math

import numpy as np

from ._color import _palette, _quantize
from ._grid import _check_int, _downscale, _tile, grid, grid_layout
from ._norm import _normalize

_SLICES_PER_PAGE = (
    1024  # default page of a general conv: whole output kernels, up to this many slices
)
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
      ``cols``, default ``min(in, 64)``), each slice min-max normalized (seed 004);
    - Linear ``[out, in]`` and 1x1 convs: the matrix as one heat image, zero-centred (``"signed"``) with
      ``cmap`` ``"RdBu_r"`` (negative blue, positive red); rows are outputs.

    ``start``/``count`` page over output kernels (default: all, or as many whole kernels as make 1024
    slices for a general conv). Conv1d ``[out, in, k]`` is drawn as ``1 x k`` kernels.

    Examples
    --------
    >>> kernels(np.random.randn(64, 3, 7, 7)).shape  # 8 x 8 RGB tiles of 7 * 3 = 21 px
    (175, 175, 3)
    """
    array = np.asarray(weight, dtype=np.float32)
    if array.ndim == 3:
        array = array[:, :, None, :]
    if array.ndim == 2 or (array.ndim == 4 and array.shape[2:] == (1, 1)):
        return _matrix(array.reshape(array.shape[:2]), cmap or "RdBu_r", max_pixels)
    if array.ndim != 4 or array.size == 0:
        raise ValueError(
            f"kernels expects conv weights [out, in, kh, kw] (Conv1d [out, in, k]) or Linear weights "
            f"[out, in], got shape {array.shape}; for a Conv3d pick a depth slice, weight[:, :, d]"
        )
    n_out, n_in = array.shape[:2]
    start = _check_int("start", start, 0)
    if start >= n_out:
        raise ValueError(f"start={start} is past the last output kernel ({n_out - 1})")
    if n_in == 3:
        return _rgb_tiles(array, cols, start, count, pad, min_tile, max_pixels)
    if n_in == 1:
        cols = math.ceil(math.sqrt(n_out)) if cols is None else cols
        return grid(
            array[:, 0],
            cols,
            start=start,
            count=count,
            cmap=cmap or "gray",
            pad=pad,
            min_tile=min_tile,
            max_pixels=max_pixels,
        )
    count = max(1, _SLICES_PER_PAGE // n_in) if count is None else _check_int("count", count, 1)
    page = array[start : start + count]
    slices = page.reshape(-1, *array.shape[2:])
    cols = min(n_in, 64) if cols is None else cols
    return grid(
        slices, cols, cmap=cmap or "gray", pad=pad, min_tile=min_tile, max_pixels=max_pixels
    )


def _rgb_tiles(array, cols, start, count, pad, min_tile, max_pixels) -> np.ndarray:
    """First-layer filters: each output kernel's three input slices shown as one colour tile."""
    n_out, _, kh, kw = array.shape
    cols = math.ceil(math.sqrt(n_out - start if count is None else count)) if cols is None else cols
    layout = grid_layout(
        n_out,
        kh,
        kw,
        cols,
        start=start,
        count=count,
        pad=pad,
        min_tile=min_tile,
        max_pixels=max_pixels,
    )
    page = array[layout.start : layout.start + layout.count]
    x01 = _normalize(page, "channel", page).transpose(0, 2, 3, 1)  # [n, kh, kw, RGB]
    if layout.step > 1:
        x01 = _downscale(x01, layout.step)
    rgb = np.rint(np.nan_to_num(x01, nan=0.0) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(_tile(rgb, layout, fill=255))


def _matrix(matrix: np.ndarray, cmap: str, max_pixels: int) -> np.ndarray:
    """A weight matrix ``[out, in]`` as one zero-centred heat image, short sides stretched."""
    if matrix.size == 0:
        raise ValueError(f"cannot draw an empty weight matrix of shape {matrix.shape}")
    x01 = _normalize(matrix[None], "signed", matrix[None])
    h, w = matrix.shape
    step = 1
    while -(-h // step) * -(-w // step) > max_pixels:
        step += 1
    if step > 1:
        x01 = _downscale(x01, step)
    index = _quantize(x01[0], 256)
    scale_h = max(1, _MATRIX_SIDE // index.shape[0])
    scale_w = max(1, _MATRIX_SIDE // index.shape[1])
    if scale_h * scale_w > 1:
        index = np.repeat(np.repeat(index, scale_h, axis=0), scale_w, axis=1)
    return np.take(_palette(cmap, 256), index, axis=0)
