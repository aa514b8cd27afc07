"""Feature maps tab: the channel grid (paged), one channel large, or the sum of channels."""

from __future__ import annotations

import numpy as np

from featviz_widgets import render
from featviz_widgets._text import shape_label
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._frames import selected_time, time_caption, time_view_of
from featviz_widgets.widgets._picking import connect, grid_tiles, single_tiles, strip_tiles
from featviz_widgets.widgets._picture import Tiles
from featviz_widgets.widgets._views import LayerView, summary
from featviz_widgets.widgets.tabs._base import (
    PictureTab,
    PngCache,
    Selection,
    TabContext,
    page_bounds,
)

SINGLE_SIZE = 320  # px of the long side when one channel is shown large


def ordered_maps(data: ExplorerData, sel: Selection, view: LayerView) -> np.ndarray:
    """The layer's maps in the selected order (strongest first reorders a copy)."""
    if sel.order == "strongest":
        return view.maps[data.stats(sel.layer).strongest]
    return view.maps


def channel_order(data: ExplorerData, sel: Selection, view: LayerView) -> np.ndarray:
    """The channel each grid position shows: by index, or strongest first."""
    if sel.order == "strongest":
        return np.asarray(data.stats(sel.layer).strongest)
    return np.arange(view.channels)


def tile_values(view: LayerView, sel: Selection, tiles: Tiles) -> np.ndarray:
    """The values each tile of the picture shows, ``[tiles, h, w]`` (read when a user hovers)."""
    if view.kind == "vector":
        return view.vector.reshape(-1, 1, 1)
    if tiles.kind == "grid":
        return view.maps[list(tiles.channels)]
    if sel.channel == "sum":
        return render.aggregate(view.maps, "sum")[None]
    return view.maps[sel.channel][None]


class FeatureMapsTab(PictureTab):
    """The grid of every channel, or the chosen channel large, with a statistics caption."""

    name = "maps"
    title = "Feature maps"
    order = 10

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self._cache = PngCache()
        connect(self.image, ctx)  # a click on a tile opens its channel, Escape goes back

    def draw(self, sel: Selection) -> None:
        data = self.ctx.data
        view = data.view(sel.layer)
        if view.kind == "none":
            self._show(None, f"{sel.layer}  {view.label}", view.note(self.ctx.lang))
            return
        # The caption rides in the cache with its picture: its statistics scan the whole layer.
        # A video layer draws the chosen time step (or the mean / sum over time) as its maps.
        shown, when = time_view_of(view, sel), time_caption(self.ctx, view, sel)
        key = (sel, *selected_time(sel))
        png, text, tiles = self._cache.get(key, lambda: self._render(data, sel, shown, when))
        # Hover values are read through the data layer, not from ``shown``: a picture must not
        # keep a layer alive after the memory budget evicted it (it is captured again instead).
        self._show(png, text, "", tiles, lambda: tile_values(self._shown_view(sel), sel, tiles))

    def _shown_view(self, sel: Selection) -> LayerView:
        return time_view_of(self.ctx.data.view(sel.layer), sel)

    def clear_cache(self) -> None:
        """Forget rendered pictures (benchmarks/browser_latency.py times fresh renders with it)."""
        self._cache.clear()
        self._shown = None

    def close(self) -> None:
        self.clear_cache()

    def _render(
        self, data: ExplorerData, sel: Selection, view: LayerView, when: str
    ) -> tuple[bytes, str, Tiles]:
        summed = None
        if sel.channel == "sum":  # computed once for the picture and the caption
            summed = (
                view.vector.sum(keepdims=True)
                if view.maps is None
                else render.aggregate(view.maps, "sum")
            )
        caption = self._caption(data, sel, view, summed)
        png, tiles = self._png(data, sel, view, summed)
        return png, f"{caption} · {when}" if when else caption, tiles

    def _png(
        self, data: ExplorerData, sel: Selection, view: LayerView, summed: np.ndarray | None
    ) -> tuple[bytes, Tiles]:
        """The picture and its tiles (from the renderer's geometry: what is drawn where)."""
        if view.kind == "vector":
            # A unit of a vector has no picture of its own: the strip stays, the caption names it.
            strip = render.vector_strip(view.vector, cmap=sel.colormap, norm=sel.normalization)
            return render.to_png(strip), strip_tiles(view.vector)
        norm, cmap = sel.normalization, sel.colormap
        if sel.channel == "grid":
            start, count = page_bounds(sel, view.channels)
            maps = ordered_maps(data, sel, view)
            # The palette PNG path: the widget's hot path, 3-5x faster than to_png(grid(...)).
            png = render.grid_png(maps, sel.columns, start=start, count=count, norm=norm, cmap=cmap)
            layout = render.grid_layout(*maps.shape, sel.columns, start=start, count=count)
            return png, grid_tiles(view.maps, channel_order(data, sel, view), layout)
        fmap = summed if summed is not None else view.maps[sel.channel]
        png = render.to_png(render.single(fmap, size=SINGLE_SIZE, norm=norm, cmap=cmap))
        return png, single_tiles(fmap, None if summed is not None else sel.channel, SINGLE_SIZE)

    def _caption(
        self, data: ExplorerData, sel: Selection, view: LayerView, summed: np.ndarray | None
    ) -> str:
        lang, say = self.ctx.lang, self.ctx.text
        head = f"{sel.layer}  {view.label}"
        note = view.note(lang)
        if note:
            head = say("with_note", what=head, note=note)
        if data.input_note(lang):
            head += f" · {data.input_note(lang)}"
        values = view.maps if view.maps is not None else view.vector
        if sel.channel == "grid":
            if view.kind == "vector":
                return f"{head} · {data.summary(sel.layer, lang)}"
            start, count = page_bounds(sel, view.channels)
            order = say("maps_strongest") if sel.order == "strongest" else ""
            span = say("maps_span", start=start + 1, end=start + count, total=view.channels)
            return f"{head} · {span}{order} · {data.summary(sel.layer, lang)}"
        if summed is not None:
            what = say("maps_sum", channels=view.channels)
            return f"{head} · {what} · {summary(summed, lang)}"
        one = values[sel.channel]
        shape = shape_label(np.shape(one)) if np.ndim(one) else say("one_value")
        what = say("maps_channel", channel=sel.channel, shape=shape)
        return f"{head} · {what} · {summary(np.atleast_1d(one), lang)}"
