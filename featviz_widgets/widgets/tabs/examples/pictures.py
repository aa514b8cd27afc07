"""The Examples tab's pictures: a channel's top images with its map over them, the crops around
each image's strongest spot, and the grid of every channel's best crop.

The pictures carry no text: a channel's scores go in the captions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from featviz_widgets import render
from featviz_widgets.examples import Examples
from featviz_widgets.widgets.tabs.examples.store import DatasetExamples

THUMB = 96  # px of each top-k picture and crop
GRID_TILE = 64  # px of each channel's crop in grid mode
ROW = 9  # pictures per row in channel mode
ROW_PAD = 2  # px between the pictures of a row (render.tile_rgb's white separators)
NO_EXAMPLE = 200  # grey level of a grid tile whose channel has no example (no image scored)


def row_png(tiles: Sequence[np.ndarray], cols: int) -> bytes:
    """The tiles in rows of ``cols``, ``ROW_PAD`` px apart, as PNG bytes."""
    return render.to_png(render.tile_rgb(list(tiles), cols=cols, pad=ROW_PAD))


def top_row(
    store: DatasetExamples, layer: str, channel: int, positions: list[int], cmap: str
) -> bytes:
    """The images at ``positions`` with ``channel``'s map of ``layer`` over each (one forward)."""
    heats = store.channel_maps(layer, positions, channel)
    tiles = [render.thumbnail_overlay(store.rgb(p), heat, THUMB, cmap)
             for p, heat in zip(positions, heats, strict=True)]  # fmt: skip
    return row_png(tiles, ROW)


def crop_row(
    store: DatasetExamples, layer: str, found: Examples, channel: int
) -> tuple[bytes, tuple[int, int]]:
    """The receptive-field crops around each top-by-max image's strongest spot, and their side."""
    map_shape = tuple(found.map_shapes[layer])
    side = store.crop_side(layer, map_shape)
    tiles = [
        render.crop_around(store.rgb(int(p)), where, map_shape, side, THUMB)
        for p, where in zip(found.max_indices[layer][channel],
                            found.max_positions[layer][channel], strict=True)
        if p >= 0
    ]  # fmt: skip
    return row_png(tiles, ROW), side


def grid_picture(
    store: DatasetExamples, layer: str, found: Examples, channels: list[int], cols: int
) -> tuple[bytes, tuple[int, int]]:
    """Each channel's best image (by max) cropped around its strongest spot, ``cols`` per row,
    a grey tile for a channel with none; and the crops' side in input pixels."""
    map_shape = tuple(found.map_shapes[layer])
    side = store.crop_side(layer, map_shape)
    tiles = []
    for c in channels:
        best = int(found.max_indices[layer][c, 0]) if found.max_indices[layer].shape[1] else -1
        if best < 0:
            tiles.append(np.full((GRID_TILE, GRID_TILE, 3), NO_EXAMPLE, dtype=np.uint8))
            continue
        where = found.max_positions[layer][c, 0]
        tiles.append(render.crop_around(store.rgb(best), where, map_shape, side, GRID_TILE))
    return row_png(tiles, cols), side
