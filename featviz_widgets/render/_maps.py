"""Views built from feature maps: channel aggregates, heatmap overlays on the photo, 1-D strips."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ._color import _palette, _quantize, colorize
from ._geometry import strip_cells
from ._grid import _as_maps, _check_int
from ._norm import _check_mode, _normalize

AGGREGATES = ("sum", "mean", "max")


def aggregate(acts: np.ndarray, how: str = "sum") -> np.ndarray:
    """Collapse channels: ``[C, H, W]`` -> float32 ``[H, W]`` by ``"sum"``, ``"mean"`` or ``"max"``.

    Examples
    --------
    >>> aggregate(np.ones((4, 2, 2)), "sum")
    array([[4., 4.],
           [4., 4.]], dtype=float32)
    """
    if how not in AGGREGATES:
        raise ValueError(f"unknown aggregate {how!r}; choose one of {', '.join(AGGREGATES)}")
    maps = _as_maps(acts)
    with np.errstate(invalid="ignore", over="ignore"):  # inf + -inf -> NaN, drawn as non-finite
        if how == "max":
            return maps.max(axis=0)
        total = maps.sum(axis=0, dtype=np.float64)
        return (total if how == "sum" else total / maps.shape[0]).astype(np.float32)


def overlay(
    photo: np.ndarray,
    heat: np.ndarray,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    norm: str = "channel",
) -> np.ndarray:
    """Blend a heatmap ``[h, w]`` onto ``photo`` (uint8 ``[H, W, 3]``): uint8 ``[H, W, 3]``.

    The heatmap is normalized (``norm``), upsampled bilinearly to the photo's size, coloured with
    ``cmap`` and mixed in as ``(1 - alpha) * photo + alpha * colour``.

    Examples
    --------
    >>> overlay(np.zeros((224, 224, 3), np.uint8), np.random.rand(7, 7)).shape
    (224, 224, 3)
    """
    image = np.asarray(photo)
    if image.dtype != np.uint8:
        raise TypeError(
            f"photo must be uint8 [H, W, 3] (e.g. PreparedImage.display), got {image.dtype}; "
            "convert with np.clip(x * 255, 0, 255).astype(np.uint8)"
        )
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"photo must be [H, W, 3], got shape {image.shape}")
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim != 2:
        raise ValueError(
            f"heat must be one map [h, w], got shape {heat.shape}; pass acts[c] or aggregate(acts)"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    _check_mode(norm)
    x01 = _normalize(heat[None], norm, heat[None])[0]
    height, width = image.shape[:2]
    upsampled = np.asarray(Image.fromarray(x01).resize((width, height), Image.BILINEAR))
    colour = colorize(upsampled, cmap).astype(np.float32)
    mixed = image[:, :, :3].astype(np.float32) * (1.0 - alpha) + colour * alpha
    return np.rint(mixed).astype(np.uint8)


def vector_strip(
    vec: np.ndarray,
    *,
    cmap: str = "viridis",
    height: int = 32,
    norm: str = "channel",
    wrap: int = 1024,
) -> np.ndarray:
    """1-D activations (Linear, pooled, flattened) as a heat strip: uint8 ``[rows * height, W, 3]``.

    Each value is a cell ``max(1, 256 // N)`` pixels wide; vectors longer than ``wrap`` continue on
    further rows (the unused end of the last row is white). The vector is normalized as one channel.

    Examples
    --------
    >>> vector_strip(np.arange(10.0)).shape  # 10 cells of 25 px
    (32, 250, 3)
    """
    array = np.asarray(vec, dtype=np.float32)
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"vector_strip expects a non-empty vector [N], got shape {array.shape}")
    height, wrap = _check_int("height", height, 1), _check_int("wrap", wrap, 1)
    _check_mode(norm)
    n = array.size
    index = _quantize(_normalize(array[None], norm, array[None])[0], 256)
    rows, per_row, cell_w = strip_cells(n, wrap)
    cells = np.full(rows * per_row, 257, dtype=index.dtype)  # 257: the separator / empty colour
    cells[:n] = index
    image = np.repeat(np.repeat(cells.reshape(rows, per_row), height, axis=0), cell_w, axis=1)
    return np.take(_palette(cmap, 256), image, axis=0)
