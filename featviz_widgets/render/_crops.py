"""Pictures cut from a photo: thumbnails, a unit's receptive field with context, outlines.

NumPy and PIL only. The Examples tab shows each dataset image at a fixed thumbnail size and, for
a unit, the part of the image its strongest map cell sees (:func:`crop_around`).

Examples
--------
>>> photo = np.zeros((64, 64, 3), np.uint8)
>>> crop_around(photo, np.array([2, 5]), (8, 8), (16, 16), 32).shape
(32, 32, 3)
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ._maps import overlay


def thumbnail(picture: np.ndarray, side: int) -> np.ndarray:
    """``picture`` (uint8 ``[H, W, 3]``) scaled to ``side`` x ``side``.

    Enlarging uses nearest neighbours (pixels stay pixels), shrinking a bilinear filter.
    """
    image = Image.fromarray(picture)
    grow = max(image.size) < side
    return np.asarray(image.resize((side, side), Image.NEAREST if grow else Image.BILINEAR))


def thumbnail_overlay(
    picture: np.ndarray, heat: np.ndarray | None, side: int, cmap: str
) -> np.ndarray:
    """The picture at ``side`` px with ``heat`` (a 2-D map) blended over it at half opacity;
    the bare thumbnail when ``heat`` is None (a unit with no map, e.g. a vector output)."""
    small = thumbnail(picture, side)
    if heat is None:
        return small
    return overlay(small, heat, alpha=0.5, cmap=cmap)


def crop_around(
    picture: np.ndarray,
    position: np.ndarray,
    map_shape: tuple[int, ...],
    side: tuple[int, int],
    thumb: int,
) -> np.ndarray:
    """The receptive field (``side`` = height, width in pixels) of map cell ``position`` in
    ``picture``, at ``thumb`` x ``thumb`` px.

    A cell ``(y, x)`` of an ``h x w`` map sits at ``((y + 0.5) * H / h, (x + 0.5) * W / w)`` in
    the ``H x W`` picture (video ``(t, y, x)``: the last two). A field under a quarter of the
    picture is shown with context around it (a quarter of the picture) and outlined; vectors (no
    position) give the whole picture.
    """
    if len(map_shape) < 2 or len(position) < 2:
        return thumbnail(picture, thumb)
    height, width = picture.shape[:2]
    centre = ((int(position[-2]) + 0.5) * height / map_shape[-2],
              (int(position[-1]) + 0.5) * width / map_shape[-1])  # fmt: skip
    field = _box(centre, side, (height, width))
    view = (max(side[0], -(-height // 4)), max(side[1], -(-width // 4)))
    top, left, box_h, box_w = _box(centre, view, (height, width))
    tile = thumbnail(picture[top : top + box_h, left : left + box_w], thumb)
    if view == side:
        return tile
    scale_y, scale_x = thumb / box_h, thumb / box_w
    y0, x0 = round((field[0] - top) * scale_y), round((field[1] - left) * scale_x)
    y1 = min(thumb, round((field[0] - top + field[2]) * scale_y)) - 1
    x1 = min(thumb, round((field[1] - left + field[3]) * scale_x)) - 1
    return outlined(tile, (y0, x0, y1, x1))


def _box(centre: tuple[float, float], side: tuple[int, int],
         bounds: tuple[int, int]) -> tuple[int, int, int, int]:  # fmt: skip
    """(top, left, height, width) of a ``side`` box centred on ``centre``, inside ``bounds``."""
    box_h, box_w = min(side[0], bounds[0]), min(side[1], bounds[1])
    top = int(np.clip(round(centre[0] - box_h / 2), 0, bounds[0] - box_h))
    left = int(np.clip(round(centre[1] - box_w / 2), 0, bounds[1] - box_w))
    return top, left, box_h, box_w


def outlined(tile: np.ndarray, corners: tuple[int, int, int, int]) -> np.ndarray:
    """A copy of ``tile`` with a one-pixel white rectangle from ``(y0, x0)`` to ``(y1, x1)``
    (``corners``, inclusive), edged in black on its outside so it shows on any picture."""
    y0, x0, y1, x1 = corners
    out = tile.copy()
    for colour, grow in (((0, 0, 0), 1), ((255, 255, 255), 0)):
        top, left = max(0, y0 - grow), max(0, x0 - grow)
        bottom, right = min(out.shape[0] - 1, y1 + grow), min(out.shape[1] - 1, x1 + grow)
        out[top, left : right + 1] = out[bottom, left : right + 1] = colour
        out[top : bottom + 1, left] = out[top : bottom + 1, right] = colour
    return out
