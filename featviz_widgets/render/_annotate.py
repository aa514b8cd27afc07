"""Marks on a photo: box outlines (detections) and a label mask blended over it (segmentation).

NumPy only. No text is ever drawn into a picture: class names go in the table beside it, so no
font is needed whatever the language (a Chinese class name in a PNG would need one).

Examples
--------
>>> photo = np.zeros((20, 30, 3), np.uint8)
>>> marked = draw_boxes(photo, np.array([[2.0, 3.0, 12.0, 15.0]]), distinct_colors(1), width=1)
>>> bool((marked[3, 2:12] == distinct_colors(1)[0]).all()), bool((photo == 0).all())
(True, True)
"""

from __future__ import annotations

import math

import numpy as np

# 1 / golden ratio: hue steps of this size never repeat and keep any run of colours far apart
# on the colour wheel (the "golden angle" palette).
_HUE_STEP = (math.sqrt(5) - 1) / 2


def distinct_colors(count: int) -> np.ndarray:
    """``count`` colours as uint8 ``[count, 3]``, neighbours far apart: hue ``i * 0.618`` (mod 1)
    around the HSV wheel at full saturation, brightness alternating 0.95 / 0.75 so that two
    colours of close hue still differ.

    Examples
    --------
    >>> distinct_colors(3).shape, distinct_colors(3).dtype
    ((3, 3), dtype('uint8'))
    """
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
    index = np.arange(int(count))
    hue = (index * _HUE_STEP) % 1.0
    value = np.where(index % 2 == 0, 0.95, 0.75)
    return _hsv_to_rgb(hue, np.full_like(hue, 0.9), value)


def _hsv_to_rgb(hue: np.ndarray, saturation: np.ndarray, value: np.ndarray) -> np.ndarray:
    """The textbook six-sector HSV -> RGB conversion, vectorized; uint8 ``[N, 3]``."""
    sector = np.floor(hue * 6).astype(int) % 6
    fraction = hue * 6 - np.floor(hue * 6)
    p = value * (1 - saturation)
    q = value * (1 - saturation * fraction)
    t = value * (1 - saturation * (1 - fraction))
    choices = [
        (value, t, p),
        (q, value, p),
        (p, value, t),
        (p, q, value),
        (t, p, value),
        (value, p, q),
    ]
    rgb = np.zeros((len(hue), 3))
    for k, (r, g, b) in enumerate(choices):
        pick = sector == k
        rgb[pick] = np.stack([r[pick], g[pick], b[pick]], axis=-1)
    return np.round(rgb * 255).astype(np.uint8)


def _check_photo(photo: np.ndarray) -> np.ndarray:
    photo = np.asarray(photo)
    if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"photo must be a uint8 [H, W, 3] image, got {photo.dtype} {photo.shape}")
    return photo


def _check_colors(colors: np.ndarray, count: int, what: str) -> np.ndarray:
    colors = np.asarray(colors)
    if colors.ndim != 2 or colors.shape[1] != 3 or len(colors) < count:
        raise ValueError(
            f"colors must be [N, 3] with one colour per {what} ({count}), got {colors.shape}; "
            "distinct_colors(n) makes them"
        )
    return colors.astype(np.uint8)


def draw_boxes(
    photo: np.ndarray, boxes: np.ndarray, colors: np.ndarray, *, width: int | None = None
) -> np.ndarray:
    """A copy of ``photo`` with each box outlined in its colour (the photo is not modified).

    Parameters
    ----------
    photo : uint8 ``[H, W, 3]``.
    boxes : ``[B, 4]`` x1, y1, x2, y2 in pixels, as torchvision's detection models give them
        (continuous coordinates: pixel column ``c`` spans ``c .. c + 1``); clipped to the photo,
        a box with no pixel inside it is skipped.
    colors : uint8 ``[B, 3]``, box ``i`` in ``colors[i]``. Later boxes are drawn over earlier
        ones: pass the most important last to keep its outline whole.
    width : outline width in pixels, inside the box; default ``max(2, short side / 160)``.
    """
    photo = _check_photo(photo)
    boxes = (
        np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if np.size(boxes) else np.zeros((0, 4))
    )
    colors = _check_colors(colors, len(boxes), "box")
    height, width_px = photo.shape[:2]
    line = max(2, round(min(height, width_px) / 160)) if width is None else int(width)
    if line < 1:
        raise ValueError(f"width must be at least 1 pixel, got {width!r}")
    out = photo.copy()
    for box, color in zip(boxes, colors, strict=False):
        if not np.isfinite(box).all():
            continue
        left, top = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
        right, bottom = min(width_px, math.ceil(box[2])), min(height, math.ceil(box[3]))
        if right <= left or bottom <= top:
            continue
        band_x, band_y = min(line, right - left), min(line, bottom - top)
        out[top : top + band_y, left:right] = color
        out[bottom - band_y : bottom, left:right] = color
        out[top:bottom, left : left + band_x] = color
        out[top:bottom, right - band_x : right] = color
    return out


def label_overlay(
    photo: np.ndarray, labels: np.ndarray, colors: np.ndarray, *, alpha: float = 0.5
) -> np.ndarray:
    """``photo`` with every pixel tinted by its label's colour: ``(1 - alpha) * photo + alpha *
    colors[label]``, rounded to uint8.

    Parameters
    ----------
    photo : uint8 ``[H, W, 3]``.
    labels : integer ``[H, W]`` class index per pixel (a segmentation's argmax).
    colors : uint8 ``[K, 3]`` with a row for every label that occurs.
    alpha : the tint's weight in [0, 1].

    Examples
    --------
    >>> photo = np.full((2, 2, 3), 100, np.uint8)
    >>> label_overlay(photo, np.array([[0, 1], [1, 1]]), np.array([[0, 0, 0], [200, 200, 200]]))[0, 1]
    array([150, 150, 150], dtype=uint8)
    """
    photo = _check_photo(photo)
    labels = np.asarray(labels)
    if labels.shape != photo.shape[:2] or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be an integer [H, W] map the size of the photo {photo.shape[:2]}, "
            f"got {labels.dtype} {labels.shape}"
        )
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be class indices (>= 0), got {int(labels.min())}")
    colors = _check_colors(colors, int(labels.max()) + 1 if labels.size else 0, "label")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    tint = colors[labels].astype(np.float32)
    blended = (1.0 - alpha) * photo.astype(np.float32) + alpha * tint
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def label_shares(labels: np.ndarray) -> list[tuple[int, float]]:
    """``(label, share of pixels)`` for every label present, the largest share first (ties:
    lower label first).

    Examples
    --------
    >>> label_shares(np.array([[3, 3], [3, 0]]))
    [(3, 0.75), (0, 0.25)]
    """
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise ValueError(f"labels must be non-negative class indices, got {labels.dtype}")
    if labels.size == 0:
        return []
    counts = np.bincount(labels.ravel())
    present = np.flatnonzero(counts)
    order = present[np.argsort(-counts[present], kind="stable")]
    return [(int(label), float(counts[label] / labels.size)) for label in order]
