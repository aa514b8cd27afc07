"""Overlay tab: a channel's heatmap over the photo, and the top-k strongest channels beside it."""

from __future__ import annotations

import ipywidgets as w
import numpy as np
from PIL import Image

from featviz_widgets import render
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._frames import (
    input_frame,
    selected_time,
    steps_of,
    time_caption,
    time_view_of,
)
from featviz_widgets.widgets._picking import connect, map_tiles, sheet_tiles
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
    order = 20

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self.opacity = w.FloatSlider(
            value=0.5, min=0.0, max=1.0, step=0.05, description=ctx.text("opacity"),
            continuous_update=False, readout_format=".2f",
        )  # fmt: skip
        self.opacity.observe(lambda _: self.ctx.request(), "value")
        # Both pictures answer Escape / double-click and the arrows; a click on the strip picks
        # its channel (a click on the photo does nothing: it reads values on hover).
        self.image = connect(image_widget(ctx.lang), ctx)
        self.strip = connect(image_widget(ctx.lang), ctx)
        self.caption = w.HTML()
        self.strip_caption = w.HTML()
        self.message = w.HTML()
        self.widget = w.VBox(
            [self.opacity, self.message, self.caption, self.image, self.strip_caption, self.strip]
        )
        self._cache = PngCache()
        self._photos: dict[tuple[int, int, int], np.ndarray] = {}  # (image, side, frame)
        self._frame = 0  # the clip frame under the picture (0 for an image)

    def key(self, sel: Selection) -> tuple:
        time = selected_time(sel)
        return (sel.layer, sel.channel, sel.colormap, sel.image_id, self.opacity.value, *time)

    def close(self) -> None:
        self._cache.clear()
        self._photos.clear()

    def draw(self, sel: Selection) -> None:
        data, say = self.ctx.data, self.ctx.text
        # A video layer: the chosen time step (or mean / sum) over the clip frame it covers.
        view = time_view_of(data.view(sel.layer), sel)
        spatial = view.maps is not None and min(view.maps.shape[1:]) > 1
        self._set_visible(spatial)
        if not spatial:
            self.message.value = note(say("overlay_flat", layer=sel.layer, shape=view.label))
            return
        self.message.value = ""
        stats = data.stats(sel.layer)
        self._frame = self._clip_frame(data, sel)
        photo = self._photo(data, sel.image_id)
        alpha = float(self.opacity.value)
        if sel.channel == "sum":
            heat, what, channel = render.aggregate(view.maps, "sum"), say("overlay_sum"), None
        else:
            chosen = isinstance(sel.channel, int)
            channel = sel.channel if chosen else int(stats.strongest[0])
            heat = view.maps[channel]
            what = say("overlay_channel" if chosen else "overlay_strongest", channel=channel)
        # A grey heatmap on a photo says nothing: the overlay swaps "gray" for "jet" (the classic
        # jet-on-photo heatmap look).
        cmap = "jet" if sel.colormap == "gray" else sel.colormap
        png = self._cache.get(
            self.key(sel),
            lambda: render.to_png(render.overlay(photo, heat, alpha=alpha, cmap=cmap)),
        )
        size = (photo.shape[1], photo.shape[0])  # the heat map is stretched over the photo
        # Values are a copy of the one map shown and the strip's are read again through the data
        # layer: a picture must not keep a whole layer alive after the memory budget evicted it.
        shown = heat[None].copy()
        self.image.show(png, map_tiles(heat, channel, size, "overlay"), lambda: shown)
        text = say("overlay_caption", layer=sel.layer, what=what, alpha=alpha)
        if steps_of(view):
            frames = data.frame_count or 1
            on = say("overlay_frame", frame=self._frame + 1, frames=frames)
            text += f" · {time_caption(self.ctx, view, sel)} · {on}"
        self.caption.value = caption(text)
        top = stats.strongest[:TOP_K]
        # The strip does not depend on the chosen channel: a channel change does not redraw it.
        strip_key = ("strip", sel.layer, cmap, sel.image_id, alpha, *selected_time(sel))
        strip = self._cache.get(
            strip_key, lambda: self._strip(data, sel.image_id, view.maps, top, cmap)
        )
        thumb = self._thumb(data, sel.image_id).shape[:2]
        tiles = sheet_tiles(len(top), thumb, len(top), 2, top, values=view.maps[top])
        self.strip.show(strip, tiles, lambda: time_view_of(data.view(sel.layer), sel).maps[top])
        ranked = ", ".join(f"{c} ({stats.means[c]:.3g})" for c in top)
        self.strip_caption.value = caption(say("overlay_top", count=len(top), ranked=ranked))

    def _strip(
        self, data: ExplorerData, image_id: int, maps: np.ndarray, top: np.ndarray, cmap: str
    ) -> bytes:
        """The top-k channels as small overlays in one row."""
        small = self._thumb(data, image_id)
        alpha = float(self.opacity.value)
        tiles = [render.overlay(small, maps[c], alpha=alpha, cmap=cmap) for c in top]
        return render.to_png(render.tile_rgb(tiles, cols=len(tiles), pad=2))

    @staticmethod
    def _clip_frame(data: ExplorerData, sel: Selection) -> int:
        """The clip frame under the chosen time step (0 for an image, and for the mean/sum)."""
        view, (frame, time_view) = data.view(sel.layer), selected_time(sel)
        if data.frame_count is None or not steps_of(view):
            return 0
        if time_view != "frame":
            return data.frame_count // 2  # the mean or sum over time: the middle of the clip
        return input_frame(frame, steps_of(view), data.frame_count)

    def _photo(self, data: ExplorerData, image_id: int) -> np.ndarray:
        """The model's view of the photo, at least PHOTO px on its long side (cached)."""
        return self._resized(data, image_id, PHOTO, grow=True)

    def _thumb(self, data: ExplorerData, image_id: int) -> np.ndarray:
        return self._resized(data, image_id, THUMB, grow=False)

    def _resized(self, data: ExplorerData, image_id: int, side: int, grow: bool) -> np.ndarray:
        key = (image_id, side, self._frame)
        if key not in self._photos:
            if self._photos and next(iter(self._photos))[0] != image_id:
                self._photos.clear()  # a new image: drop the old one's sizes
            frames = data.prepared.frames
            photo = Image.fromarray(data.prepared.display if frames is None else frames[key[2]])
            scale = side / max(photo.size)
            if scale < 1 or grow:
                size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
                photo = photo.resize(size, Image.BILINEAR)
            self._photos[key] = np.asarray(photo)
        return self._photos[key]

    def _set_visible(self, on: bool) -> None:
        for widget in (self.image, self.strip, self.caption, self.strip_caption):
            widget.layout.display = None if on else "none"
