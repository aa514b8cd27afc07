"""Pointing at pictures: the tiles of each picture, and what a click or an arrow key selects.

The tiles come from the renderer's own geometry (``render.tile_boxes``, ``render.strip_boxes``,
``render.kernel_boxes``, ``render.single_layout``), called with the arguments that drew the PNG.
A click, a double-click or a key on a :class:`~featviz_widgets.widgets._picture.Picture` moves the
explorer's selection through ``ctx.select``: the same path as the Channel dropdown, so
``ex.channel`` and every observer follow.

- ``pick``: select the tile's channel; ``back`` (double-click, Escape): back to the grid;
- ``step`` (arrow keys): the next / previous channel in the explorer's order (index or strongest
  first), ``by`` channels at a time (a grid row for up/down), clamped at the first and the last;
  from the grid (or the sum) it opens the first channel of the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from featviz_widgets import render
from featviz_widgets.widgets._picture import Picture, Tiles
from featviz_widgets.widgets.tabs._base import Selection, TabContext, page_bounds


def connect(image: Picture, ctx: TabContext) -> Picture:
    """Let clicks and keys on ``image`` move the explorer's selection (returns ``image``)."""
    if ctx.select is not None:
        image.on_event(lambda event: on_event(ctx, event))
    return image


def on_event(ctx: TabContext, event: dict) -> None:
    """Move the explorer's selection for a pick / back / step message from a picture."""
    sel = ctx.selection()
    kind = event.get("event")
    if kind == "pick":
        channel = event.get("channel")
        if isinstance(channel, int) and not isinstance(channel, bool) and channel != sel.channel:
            ctx.select(channel=channel)
    elif kind == "back":
        if sel.channel != "grid":
            ctx.select(channel=None)
    elif kind == "step":
        by = event.get("by")
        if isinstance(by, int) and not isinstance(by, bool):
            target = stepped(ctx, sel, by)
            if target is not None and target != sel.channel:
                ctx.select(channel=target)


def stepped(ctx: TabContext, sel: Selection, by: int) -> int | None:
    """The channel ``by`` steps from the selected one in the explorer's order (clamped)."""
    channels = ctx.data.view(sel.layer).channels
    if channels == 0:
        return None
    if sel.order == "strongest":
        order = np.asarray(ctx.data.stats(sel.layer).strongest)
    else:
        order = np.arange(channels)
    if not isinstance(sel.channel, int):
        return int(order[page_bounds(sel, channels)[0]])
    where = int(np.flatnonzero(order == sel.channel)[0])
    return int(order[min(max(where + by, 0), channels - 1)])


def mean_max(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile mean and max of ``[n, ...]`` values (non-finite values propagate, no warning)."""
    flat = np.asarray(values, dtype=np.float32).reshape(len(values), -1)
    with np.errstate(invalid="ignore", over="ignore"):
        return flat.mean(axis=1, dtype=np.float64), flat.max(axis=1).astype(np.float64)


def value_range(values: np.ndarray) -> tuple[float, float] | None:
    """``(min, max)`` of the finite values (None when none is finite)."""
    finite = values[np.isfinite(values)] if not np.isfinite(values).all() else values
    return (float(finite.min()), float(finite.max())) if finite.size else None


def grid_tiles(
    maps: np.ndarray, order: Sequence[int], layout: render.GridLayout, *, click: bool = True
) -> Tiles:
    """Tiles of a channel grid drawn with ``layout`` from the maps in ``order`` (index or strongest).

    Tile ``i`` shows channel ``order[layout.start + i]``: its map is ``maps[that channel]``.
    """
    channels = [int(c) for c in order[layout.start : layout.start + layout.count]]
    page = maps[channels]
    means, maxes = mean_max(page)
    return Tiles(
        kind="grid", size=(layout.width, layout.height), boxes=render.tile_boxes(layout),
        channels=channels, click=click, cols=layout.cols, cells=tuple(maps.shape[1:3]),
        map_size=tuple(maps.shape[1:3]), means=means, maxes=maxes, value_range=value_range(page),
    )  # fmt: skip


def map_tiles(fmap: np.ndarray, channel: int | None, size: tuple[int, int], kind: str) -> Tiles:
    """One map drawn over a whole ``(width, height)`` picture (a channel large, an overlay)."""
    means, maxes = mean_max(fmap[None])
    return Tiles(
        kind=kind, size=size, boxes=np.array([[0, 0, size[0], size[1]]]), channels=[channel],
        click=False, cells=tuple(fmap.shape), map_size=tuple(fmap.shape), means=means,
        maxes=maxes, value_range=value_range(fmap),
    )  # fmt: skip


def single_tiles(fmap: np.ndarray, channel: int | None, size: int) -> Tiles:
    """The tile of ``render.single(fmap, size=size)``: the map over the whole picture."""
    layout = render.single_layout(*fmap.shape, size)
    return map_tiles(fmap, channel, (layout.width, layout.height), "map")


def strip_tiles(vector: np.ndarray) -> Tiles:
    """The cells of ``render.vector_strip(vector)``: one unit each (a click selects it)."""
    boxes = render.strip_boxes(len(vector))
    width, height = int((boxes[:, 0] + boxes[:, 2]).max()), int((boxes[:, 1] + boxes[:, 3]).max())
    values = np.asarray(vector, dtype=np.float64)
    return Tiles(
        kind="strip", size=(width, height), boxes=boxes, channels=list(range(len(vector))),
        cols=int(np.count_nonzero(boxes[:, 1] == 0)), cells=(1, 1), map_size=(1, 1), means=values, maxes=values,
        value_range=value_range(values),
    )  # fmt: skip


def sheet_tiles(
    count: int, tile: tuple[int, int], cols: int, pad: int, channels: Sequence[int | None],
    *, kind: str = "sheet", click: bool = True, values: np.ndarray | None = None, scale: int = 1,
) -> Tiles:  # fmt: skip
    """Tiles of ``render.tile_rgb`` (``count`` pictures of ``tile`` = (h, w)), with ``values``
    ``[count, h, w]`` of each tile's map when it has one (an overlay), else no value readout.

    ``scale``: the sheet is shown enlarged by this integer factor (crisp pixels, separators too).
    """
    layout = render.sheet_layout(count, *tile, cols, pad)
    stats: dict[str, Any] = {}
    if values is not None:
        means, maxes = mean_max(values)
        shape = tuple(values.shape[1:3])
        stats = {"cells": shape, "map_size": shape, "means": means, "maxes": maxes,
                 "value_range": value_range(values)}  # fmt: skip
    return Tiles(
        kind=kind, size=(layout.width * scale, layout.height * scale),
        boxes=render.tile_boxes(layout) * scale, channels=list(channels), click=click,
        cols=layout.cols, **stats,
    )  # fmt: skip


def kernel_tiles(weight: np.ndarray, **drawn: Any) -> tuple[Tiles, Any]:
    """Tiles of ``render.kernels(weight, **drawn)`` (each a kernel, slice or matrix row), and a
    function giving the values of grey tiles (None for RGB tiles and matrices: no readout).

    A click picks the tile's output channel; the tooltip shows that output's mean and max weight.
    """
    boxes, outputs = render.kernel_boxes(weight.shape, **drawn)
    means, maxes = mean_max(weight[outputs])
    right, bottom = (boxes[:, 0] + boxes[:, 2]).max(), (boxes[:, 1] + boxes[:, 3]).max()
    per_row = len(set(outputs[boxes[:, 1] == 0].tolist()))  # outputs in the first row
    grey = weight.ndim == 4 and weight.shape[1] != 3 and weight.shape[2:] != (1, 1)
    first, count = int(outputs[0]), len(set(outputs.tolist()))

    def slices() -> np.ndarray:  # one grey slice per tile, in drawing order
        return weight[first : first + count].reshape(-1, *weight.shape[2:])

    tiles = Tiles(
        kind="kernels", size=(int(right), int(bottom)), boxes=boxes, channels=outputs.tolist(),
        cols=max(1, per_row), cells=tuple(weight.shape[2:]) if grey else None,
        map_size=tuple(weight.shape[2:]) if weight.ndim == 4 else None, means=means, maxes=maxes,
    )  # fmt: skip
    return tiles, slices if grey else None
