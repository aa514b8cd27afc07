"""Channel grids: [C, H, W] activations -> one tiled image, built by reshaping, never a loop per channel.

The pipeline is separable so a widget can redo only what changed: ``normalize`` (statistics, once per
layer and mode) -> ``grid(x01, norm=None, ...)`` (quantize, tile, one lookup-table ``np.take``).
``tile_rgb`` lays out ready-made RGB pictures (optimized images, overlays) with the same tiling core.
Where the tiles go (``GridLayout``, ``grid_layout``) lives in ``_geometry``, shared with the widgets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided
from PIL import Image

from ._color import _palette, _quantize
from ._encode import _save_png
from ._geometry import GridLayout, _check_int, grid_layout, sheet_layout, single_layout
from ._norm import _check_mode, _normalize

# palette PNGs hold 256 colours: 254 colormap levels, the NaN marker and the separator
_PNG_LEVELS = 254


def _as_maps(acts: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # float64 beyond float32 range -> inf, drawn as non-finite
        array = np.asarray(acts, dtype=np.float32)
    if array.ndim == 3 and array.size:
        return array
    if array.ndim == 4 and array.shape[0] == 1:
        fix = "pass acts[0] to drop the batch dimension"
    elif array.ndim == 2:
        fix = "use single() for one map, or acts[None] for a one-channel grid"
    elif array.ndim == 1:
        fix = "use vector_strip() for 1-D activations"
    elif array.ndim == 4:
        fix = "use frames() for [C, T, H, W] video activations, or pick one sample"
    else:
        fix = "pass a non-empty [C, H, W] array"
    raise ValueError(f"expected activations [C, H, W], got shape {array.shape}; {fix}")


def _page01(acts: np.ndarray, layout: GridLayout, norm: str | None) -> np.ndarray:
    """Normalized (or, with norm=None, clipped) float32 maps of the page, downscaled when step > 1."""
    page = acts[layout.start : layout.start + layout.count]
    # norm=None: the caller normalized already (e.g. a cached normalize()); clip, NaN stays NaN
    x01 = np.clip(page, 0.0, 1.0) if norm is None else _normalize(page, norm, acts)
    return x01 if layout.step == 1 else _downscale(x01, layout.step)


def _downscale(x: np.ndarray, step: int) -> np.ndarray:
    """Box average of ``step x step`` blocks (smaller blocks at the bottom/right edges)."""
    h, w = x.shape[1:3]
    sums = _block_sums(_block_sums(x, step, axis=1), step, axis=2)
    rows = np.minimum(step, h - np.arange(0, h, step))  # block heights: the last may be shorter
    cols = np.minimum(step, w - np.arange(0, w, step))
    counts = rows[:, None] * cols[None, :]
    counts = counts.reshape(counts.shape + (1,) * (x.ndim - 3))  # trailing dims, e.g. RGB
    return (sums / counts).astype(np.float32)


def _block_sums(x: np.ndarray, step: int, axis: int) -> np.ndarray:
    """Sums of ``step`` neighbours along ``axis`` (the last block may be shorter).

    ``step`` strided adds, one pass over ``x`` in all: ``np.add.reduceat`` over rows is ~15x slower.
    """
    pick = [slice(None)] * x.ndim
    pick[axis] = slice(0, None, step)
    sums = x[tuple(pick)].astype(np.float32)  # a copy: accumulated into below
    for offset in range(1, step):
        pick[axis] = slice(offset, None, step)
        part = x[tuple(pick)]
        head = [slice(None)] * x.ndim
        head[axis] = slice(0, part.shape[axis])
        sums[tuple(head)] += part
    return sums


def _tile(arr: np.ndarray, layout: GridLayout, fill: float | int) -> np.ndarray:
    """Place ``arr[n, h, w, ...]`` on a canvas, upscaled by ``layout.scale``; a view, not a copy."""
    n, h, w = arr.shape[:3]
    rest = arr.shape[3:]
    rows, cols, s, pad = layout.rows, layout.cols, layout.scale, layout.pad
    canvas = np.full((rows, h * s + pad, cols, w * s + pad, *rest), fill, dtype=arr.dtype)
    body = canvas[:, : h * s, :, : w * s]
    st = body.strides
    # split each tile axis into (pixel, repeat) so one broadcast assignment does the nearest upscaling
    cells = as_strided(
        body,
        shape=(rows, h, s, cols, w, s, *rest),
        strides=(st[0], st[1] * s, st[1], st[2], st[3] * s, st[3], *st[4:]),
        writeable=True,
    )
    full = n // cols
    src = arr[: full * cols].reshape(full, cols, h, w, *rest).swapaxes(1, 2)
    cells[:full] = src[:, :, None, :, :, None]
    if n > full * cols:  # partial last row; the empty slots keep the fill colour
        cells[full, :, :, : n - full * cols] = arr[full * cols :].swapaxes(0, 1)[
            :, None, :, :, None
        ]
    flat = canvas.reshape(rows * (h * s + pad), cols * (w * s + pad), *rest)
    return flat[: layout.height, : layout.width]


def tile_rgb(images: Sequence[np.ndarray] | np.ndarray, cols: int, pad: int = 2) -> np.ndarray:
    """Tile same-size uint8 ``[H, W, 3]`` pictures row by row, ``cols`` per row: uint8 ``[H', W', 3]``.

    Separators (``pad`` pixels) and the empty slots of a partial last row are white (``PAD_COLOR``);
    ``cols`` shrinks to the number of pictures. ``images`` is a list of pictures or one
    ``[N, H, W, 3]`` array. Pictures keep their pixels: no normalization, no scaling.

    Examples
    --------
    >>> tile_rgb([np.zeros((4, 5, 3), np.uint8)] * 3, cols=2).shape  # 2 rows, 2 columns, 2-px gaps
    (10, 12, 3)
    """
    pictures = [np.asarray(image) for image in images]
    if not pictures:
        raise ValueError("tile_rgb needs at least one image")
    first = pictures[0]
    if first.dtype != np.uint8 or first.ndim != 3 or first.shape[2] != 3:
        raise ValueError(
            f"tile_rgb expects uint8 [H, W, 3] pictures, got {first.dtype} {first.shape}"
        )
    odd = next((p for p in pictures if p.shape != first.shape or p.dtype != np.uint8), None)
    if odd is not None:
        raise ValueError(
            f"tile_rgb needs pictures of one size and dtype: {first.dtype} {first.shape} and "
            f"{odd.dtype} {odd.shape}; resize them first"
        )
    layout = sheet_layout(len(pictures), *first.shape[:2], cols, pad)
    return np.ascontiguousarray(_tile(np.stack(pictures), layout, fill=255))


def _indexed(acts, layout: GridLayout, norm: str | None, levels: int) -> np.ndarray:
    return _tile(_quantize(_page01(acts, layout, norm), levels), layout, fill=levels + 1)


def _planned(
    acts: np.ndarray, norm: str | None, cols: int, **geometry: int | None
) -> tuple[np.ndarray, GridLayout]:
    """Validated maps ``[C, H, W]`` and their :class:`GridLayout` (shared by grid and grid_png)."""
    maps = _as_maps(acts)
    if norm is not None:
        _check_mode(norm)
    return maps, grid_layout(*maps.shape, cols, **geometry)


def grid(
    acts: np.ndarray,
    cols: int = 8,
    *,
    start: int = 0,
    count: int | None = None,
    norm: str | None = "channel",
    cmap: str | None = "gray",
    pad: int = 1,
    min_tile: int = 32,
    max_pixels: int = 4_000_000,
) -> np.ndarray:
    """Tile channels ``[C, H, W]`` into one image: uint8 ``[H', W', 3]``, geometry from :func:`grid_layout`.

    ``norm`` is a mode of :func:`normalize` (``"layer"`` uses the whole layer's range, also when paging),
    or ``None`` when ``acts`` is already in [0, 1] (e.g. a cached ``normalize`` result). Separators and
    empty slots are white, non-finite values magenta. ``cmap=None`` returns the float32 grid ``[H', W']``
    instead (NaN in separators and at non-finite values), e.g. for a custom colouring.

    Examples
    --------
    >>> grid(np.random.rand(10, 7, 7), cols=4).shape  # 3 rows of 35-px tiles, 1-px separators
    (107, 143, 3)
    """
    acts, layout = _planned(
        acts, norm, cols, start=start, count=count, pad=pad, min_tile=min_tile,
        max_pixels=max_pixels,
    )  # fmt: skip
    if cmap is None:
        return np.ascontiguousarray(_tile(_page01(acts, layout, norm), layout, fill=np.nan))
    palette = _palette(cmap, 256)
    return np.take(palette, _indexed(acts, layout, norm, 256), axis=0)


def grid_png(
    acts: np.ndarray,
    cols: int = 8,
    *,
    start: int = 0,
    count: int | None = None,
    norm: str | None = "channel",
    cmap: str = "gray",
    pad: int = 1,
    min_tile: int = 32,
    max_pixels: int = 4_000_000,
    compress_level: int = 1,
) -> bytes:
    """The :func:`grid` picture as an 8-bit palette PNG: the fast path for a widget.

    The colormap travels as the PNG palette, so the encoder handles one byte per pixel and no filtering
    (3-5x faster than ``to_png(grid(...))``; ``compress_level`` as in :func:`to_png`). The palette
    holds 254 colormap levels (plus the NaN and separator colours), so a pixel may differ from
    :func:`grid` by a colormap step. Decode with ``Image.open(...).convert("RGB")`` for colours.

    Examples
    --------
    >>> grid_png(np.random.rand(16, 28, 28), cols=4)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    acts, layout = _planned(
        acts, norm, cols, start=start, count=count, pad=pad, min_tile=min_tile,
        max_pixels=max_pixels,
    )  # fmt: skip
    palette = _palette(cmap, _PNG_LEVELS)
    image = Image.fromarray(np.ascontiguousarray(_indexed(acts, layout, norm, _PNG_LEVELS)))
    image.putpalette(palette.tobytes())  # turns the "L" image into "P" with our colours
    # upscaled tiles repeat whole rows, which only the default strategy finds (smaller and faster there)
    return _save_png(image, compress_level, rle=layout.scale == 1)


def single(
    fmap: np.ndarray, *, size: int = 256, norm: str = "channel", cmap: str = "viridis"
) -> np.ndarray:
    """One feature map ``[H, W]`` drawn large: uint8 ``[H', W', 3]``.

    The longer side becomes the largest integer multiple of the map that fits in ``size`` (nearest
    neighbour, so every activation stays a crisp square); maps larger than ``size`` are box-downscaled.

    Examples
    --------
    >>> single(np.random.rand(7, 7)).shape  # 7 * 36 = 252
    (252, 252, 3)
    """
    array = np.asarray(fmap)
    if array.ndim != 2:
        raise ValueError(
            f"single expects one map [H, W], got shape {array.shape}; pick a channel: acts[c]"
        )
    layout = single_layout(*array.shape, size)
    acts = _as_maps(array[None])
    return np.take(_palette(cmap, 256), _indexed(acts, layout, norm, 256), axis=0)


def frames(
    acts: np.ndarray,
    *,
    channel: int = 0,
    cols: int | None = None,
    norm: str = "channel",
    cmap: str = "gray",
    pad: int = 1,
    min_tile: int = 32,
    max_pixels: int = 4_000_000,
) -> np.ndarray:
    """Video activations as a row of frames: ``[C, T, H, W]`` (one ``channel``) or ``[T, H, W]``.

    All frames share one scale (the whole clip is normalized as one channel), so changes over time show.
    ``cols`` defaults to ``T`` (one row).

    Examples
    --------
    >>> frames(np.random.rand(4, 8, 14, 14), channel=2).shape  # 8 frames of 14 * 3 = 42 px in a row
    (42, 343, 3)
    """
    array = np.asarray(acts)
    if array.ndim == 4:
        channel = _check_int("channel", channel, 0)
        if channel >= array.shape[0]:
            raise ValueError(f"channel={channel} is past the last channel ({array.shape[0] - 1})")
        array = array[channel]
    elif array.ndim != 3:
        raise ValueError(f"frames expects [C, T, H, W] or [T, H, W], got shape {array.shape}")
    clip = _as_maps(array)
    _check_mode(norm)
    x01 = _normalize(clip[None], norm, clip[None])[0]
    cols = clip.shape[0] if cols is None else cols
    return grid(x01, cols, norm=None, cmap=cmap, pad=pad, min_tile=min_tile, max_pixels=max_pixels)
