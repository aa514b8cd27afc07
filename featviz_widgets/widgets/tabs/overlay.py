"""Overlay tab: a channel's heatmap over the photo, and the top-k strongest channels beside it."""

from __future__ import annotations

import ipywidgets as w
import numpy as np
from PIL import Image

from featviz_widgets import render
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets.tabs._base import (
    PngCache,
    Selection,
    Tab,
    TabContext,
    caption,
    image_widget,
    note,
)

TOP_K = 8
THUMB = 112  # px of each top-k thumbnail
PHOTO = 384  # px: the 224-px model input is enlarged so the overlay is not thumbnail-size


class OverlayTab(Tab):
    """The chosen channel (the strongest when the grid is selected, the sum for "sum") on the photo."""

    name = "overlay"
    title = "Overlay"

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self.opacity = w.FloatSlider(
            value=0.5, min=0.0, max=1.0, step=0.05, description="Opacity",
            continuous_update=False, readout_format=".2f",
        )  # fmt: skip
        self.opacity.observe(lambda _: self.ctx.request(), "value")
        self.image = image_widget()
        self.strip = image_widget()
        self.caption = w.HTML()
        self.strip_caption = w.HTML()
        self.message = w.HTML()
        self.widget = w.VBox(
            [self.opacity, self.message, self.caption, self.image, self.strip_caption, self.strip]
        )
        self._cache = PngCache()
        self._photos: dict[tuple[int, int], np.ndarray] = {}

    def key(self, sel: Selection) -> tuple:
        return (sel.layer, sel.channel, sel.colormap, sel.image_id, self.opacity.value)

    def close(self) -> None:
        self._cache.clear()
        self._photos.clear()

    def draw(self, sel: Selection) -> None:
        data = self.ctx.data
        view = data.view(sel.layer)
        spatial = view.maps is not None and min(view.maps.shape[1:]) > 1
        self._set_visible(spatial)
        if not spatial:
            self.message.value = note(
                f"{sel.layer} ({view.label}) has no spatial map to lay over the photo; "
                "pick a convolution or another layer with a height and width."
            )
            return
        self.message.value = ""
        stats = data.stats(sel.layer)
        photo = self._photo(data, sel.image_id)
        alpha = float(self.opacity.value)
        if sel.channel == "sum":
            heat, what = render.aggregate(view.maps, "sum"), "sum of channels"
        else:
            channel = sel.channel if isinstance(sel.channel, int) else int(stats.strongest[0])
            heat = view.maps[channel]
            what = f"channel {channel}" + ("" if isinstance(sel.channel, int) else " (strongest)")
        # A grey heatmap on a photo says nothing: the overlay swaps "gray" for "jet" (the classic
        # jet-on-photo heatmap look).
        cmap = "jet" if sel.colormap == "gray" else sel.colormap
        self.image.value = self._cache.get(
            self.key(sel),
            lambda: render.to_png(render.overlay(photo, heat, alpha=alpha, cmap=cmap)),
        )
        self.caption.value = caption(f"{sel.layer} · {what} over the photo · opacity {alpha:.2f}")
        top = stats.strongest[:TOP_K]
        # The strip does not depend on the chosen channel: a channel change does not redraw it.
        strip_key = ("strip", sel.layer, cmap, sel.image_id, alpha)
        self.strip.value = self._cache.get(strip_key, lambda: self._strip(data, sel, top, cmap))
        ranked = ", ".join(f"{c} ({stats.means[c]:.3g})" for c in top)
        self.strip_caption.value = caption(f"top {len(top)} channels by mean activation: {ranked}")

    def _strip(self, data: ExplorerData, sel: Selection, top: np.ndarray, cmap: str) -> bytes:
        """The top-k channels as small overlays in one row."""
        small = self._thumb(data, sel.image_id)
        maps, alpha = data.view(sel.layer).maps, float(self.opacity.value)
        tiles = [render.overlay(small, maps[c], alpha=alpha, cmap=cmap) for c in top]
        return render.to_png(render.tile_rgb(tiles, cols=len(tiles)))

    def _photo(self, data: ExplorerData, image_id: int) -> np.ndarray:
        """The model's view of the photo, at least PHOTO px on its long side (cached)."""
        return self._resized(data, image_id, PHOTO, grow=True)

    def _thumb(self, data: ExplorerData, image_id: int) -> np.ndarray:
        return self._resized(data, image_id, THUMB, grow=False)

    def _resized(self, data: ExplorerData, image_id: int, side: int, grow: bool) -> np.ndarray:
        key = (image_id, side)
        if key not in self._photos:
            if self._photos and next(iter(self._photos))[0] != image_id:
                self._photos.clear()  # a new image: drop the old one's sizes
            photo = Image.fromarray(data.prepared.display)
            scale = side / max(photo.size)
            if scale < 1 or grow:
                size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
                photo = photo.resize(size, Image.BILINEAR)
            self._photos[key] = np.asarray(photo)
        return self._photos[key]

    def _set_visible(self, on: bool) -> None:
        for widget in (self.image, self.strip, self.caption, self.strip_caption):
            widget.layout.display = None if on else "none"
