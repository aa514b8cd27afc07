"""Marks on a photo: box outlines, instance masks and keypoints (detections), and a label mask
blended over it (segmentation).

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


# The 17 COCO person keypoints in the order torchvision's Keypoint R-CNN answers them
# (torchvision.models._meta._COCO_PERSON_KEYPOINT_NAMES), and the limbs that join them: the
# face, the arms, the torso and the legs, as COCO's person skeleton draws them.
COCO_PERSON_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
_LIMBS = (
    ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "right_eye"),
    ("left_eye", "left_ear"), ("right_eye", "right_ear"),
    ("left_ear", "left_shoulder"), ("right_ear", "right_shoulder"),
    ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_hip", "right_hip"),
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
)  # fmt: skip
COCO_PERSON_SKELETON = tuple(
    (COCO_PERSON_KEYPOINTS.index(a), COCO_PERSON_KEYPOINTS.index(b)) for a, b in _LIMBS
)


def fill_masks(
    photo: np.ndarray, masks: np.ndarray, colors: np.ndarray, *, alpha: float = 0.5
) -> np.ndarray:
    """``photo`` with every mask's pixels tinted by its colour, ``(1 - alpha) * photo + alpha *
    colors[i]`` (rounded to uint8); pixels in no mask are left as they are.

    Parameters
    ----------
    photo : uint8 ``[H, W, 3]``.
    masks : bool ``[B, H, W]``, one per instance (a probability map thresholded by the caller).
    colors : uint8 ``[B, 3]``, mask ``i`` in ``colors[i]``. Where masks overlap, the later one's
        colour is the one blended (each pixel is tinted once): pass the most important last.
    alpha : the tint's weight in [0, 1].

    Examples
    --------
    >>> photo = np.full((2, 2, 3), 100, np.uint8)
    >>> fill_masks(photo, np.array([[[True, False], [False, False]]]), [[200, 0, 0]])[:, :, 0]
    array([[150, 100],
           [100, 100]], dtype=uint8)
    """
    photo = _check_photo(photo)
    masks = np.asarray(masks)
    if masks.dtype != bool or masks.ndim != 3 or masks.shape[1:] != photo.shape[:2]:
        raise ValueError(
            f"masks must be bool [B, H, W] the size of the photo {photo.shape[:2]}, "
            f"got {masks.dtype} {masks.shape}"
        )
    colors = _check_colors(colors, len(masks), "mask")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    owner = np.full(photo.shape[:2], -1)
    for index, mask in enumerate(masks):
        owner[mask] = index
    inside = owner >= 0
    out = photo.copy()
    tint = colors[owner[inside]].astype(np.float32)
    blended = (1.0 - alpha) * photo[inside].astype(np.float32) + alpha * tint
    out[inside] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return out


def draw_keypoints(
    photo: np.ndarray,
    keypoints: np.ndarray,
    colors: np.ndarray,
    *,
    edges: tuple[tuple[int, int], ...] = (),
    radius: float | None = None,
    width: int | None = None,
) -> np.ndarray:
    """A copy of ``photo`` with each instance's visible keypoints as filled dots, and the
    ``edges`` between two visible ones as lines, all in the instance's colour.

    Parameters
    ----------
    photo : uint8 ``[H, W, 3]``.
    keypoints : ``[B, K, 3]`` x, y (continuous pixel coordinates, as boxes) and visibility; a
        keypoint with visibility 0 (or a coordinate that is not finite) is not drawn, nor a line
        to it.
    colors : uint8 ``[B, 3]``; later instances are drawn over earlier ones.
    edges : pairs of keypoint indices to join (:data:`COCO_PERSON_SKELETON` for COCO people).
    radius : dot radius in pixels (a pixel is in the dot when its centre is); default
        ``max(2, short side / 100)``.
    width : line width in pixels; default ``max(1, short side / 320)``.
    """
    photo = _check_photo(photo)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[2] != 3:
        raise ValueError(f"keypoints must be [B, K, 3] (x, y, visibility), got {keypoints.shape}")
    colors = _check_colors(colors, len(keypoints), "instance")
    short = min(photo.shape[:2])
    radius = max(2.0, short / 100) if radius is None else float(radius)
    line = max(1, round(short / 320)) if width is None else int(width)
    if radius <= 0 or line < 1:
        raise ValueError(f"radius and width must be positive, got {radius!r}, {width!r}")
    out = photo.copy()
    for points, color in zip(keypoints, colors, strict=False):
        shown = (points[:, 2] > 0) & np.isfinite(points).all(axis=1)
        for a, b in edges:
            if shown[a] and shown[b]:
                _paint(out, points[a, :2], points[b, :2], max(line / 2, _HALF_DIAGONAL), color)
        for x, y in points[shown, :2]:
            _paint(out, np.array([x, y]), np.array([x, y]), radius, color)
    return out


# The farthest a pixel's centre can be from a line through the pixel: a line of reach at least
# this never breaks, whatever its slope.
_HALF_DIAGONAL = math.sqrt(0.5) + 1e-6


def _paint(out: np.ndarray, start: np.ndarray, end: np.ndarray, reach: float, color) -> None:
    """Colour the pixels whose centre (column + 0.5, row + 0.5) lies within ``reach`` of the
    segment ``start``-``end`` (x, y; a dot when they are equal), looking only at the segment's
    bounding window."""
    height, width = out.shape[:2]
    top = max(0, math.floor(min(start[1], end[1]) - reach))
    bottom = min(height, math.ceil(max(start[1], end[1]) + reach))
    left = max(0, math.floor(min(start[0], end[0]) - reach))
    right = min(width, math.ceil(max(start[0], end[0]) + reach))
    if bottom <= top or right <= left:
        return
    rows = np.arange(top, bottom)[:, None] + 0.5 - start[1]
    cols = np.arange(left, right)[None, :] + 0.5 - start[0]
    direction = end - start
    length2 = float(direction @ direction)
    along = (cols * direction[0] + rows * direction[1]) / length2 if length2 > 0 else 0.0
    along = np.clip(along, 0.0, 1.0)
    near = (cols - along * direction[0]) ** 2 + (rows - along * direction[1]) ** 2 <= reach**2
    out[top:bottom, left:right][near] = color
