"""Feature maps tab: the channel grid (paged), one channel large, or the sum of channels."""

from __future__ import annotations

import numpy as np

from featviz_widgets import render
from featviz_widgets._text import shape_label
from featviz_widgets.widgets._data import ExplorerData
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


class FeatureMapsTab(PictureTab):
    """The grid of every channel, or the chosen channel large, with a statistics caption."""

    name = "maps"
    title = "Feature maps"

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self._cache = PngCache()

    def draw(self, sel: Selection) -> None:
        data = self.ctx.data
        view = data.view(sel.layer)
        if view.kind == "none":
            self._show(None, f"{sel.layer}  {view.label}", view.note)
            return
        # The caption rides in the cache with its picture: its statistics scan the whole layer.
        png, text = self._cache.get(sel, lambda: self._render(data, sel, view))
        self._show(png, text, "")

    def clear_cache(self) -> None:
        """Forget rendered pictures (benchmarks/browser_latency.py times fresh renders with it)."""
        self._cache.clear()
        self._shown = None

    def close(self) -> None:
        self.clear_cache()

    def _render(self, data: ExplorerData, sel: Selection, view: LayerView) -> tuple[bytes, str]:
        summed = None
        if sel.channel == "sum":  # computed once for the picture and the caption
            summed = (
                view.vector.sum(keepdims=True)
                if view.maps is None
                else render.aggregate(view.maps, "sum")
            )
        return self._png(data, sel, view, summed), self._caption(data, sel, view, summed)

    def _png(
        self, data: ExplorerData, sel: Selection, view: LayerView, summed: np.ndarray | None
    ) -> bytes:
        if view.kind == "vector":
            # A unit of a vector has no picture of its own: the strip stays, the caption names it.
            strip = render.vector_strip(view.vector, cmap=sel.colormap, norm=sel.normalization)
            return render.to_png(strip)
        norm, cmap = sel.normalization, sel.colormap
        if sel.channel == "grid":
            start, count = page_bounds(sel, view.channels)
            maps = ordered_maps(data, sel, view)
            # The palette PNG path: the widget's hot path, 3-5x faster than to_png(grid(...)).
            return render.grid_png(
                maps, sel.columns, start=start, count=count, norm=norm, cmap=cmap
            )
        if summed is not None:
            fmap = summed
        elif view.frames is not None:
            return render.to_png(
                render.frames(view.frames, channel=sel.channel, norm=norm, cmap=cmap)
            )
        else:
            fmap = view.maps[sel.channel]
        return render.to_png(render.single(fmap, size=SINGLE_SIZE, norm=norm, cmap=cmap))

    def _caption(
        self, data: ExplorerData, sel: Selection, view: LayerView, summed: np.ndarray | None
    ) -> str:
        head = f"{sel.layer}  {view.label}"
        if view.note:
            head += f" ({view.note})"
        if data.input_note():
            head += f" · {data.input_note()}"
        values = view.maps if view.maps is not None else view.vector
        if sel.channel == "grid":
            if view.kind == "vector":
                return f"{head} · {data.summary(sel.layer)}"
            start, count = page_bounds(sel, view.channels)
            order = ", strongest first" if sel.order == "strongest" else ""
            span = f"channels {start + 1}-{start + count} of {view.channels}{order}"
            return f"{head} · {span} · {data.summary(sel.layer)}"
        if summed is not None:
            return f"{head} · sum of {view.channels} channels · {summary(summed)}"
        one = values[sel.channel]
        shape = shape_label(np.shape(one)) if np.ndim(one) else "1 value"
        return f"{head} · channel {sel.channel} ({shape}) · {summary(np.atleast_1d(one))}"
