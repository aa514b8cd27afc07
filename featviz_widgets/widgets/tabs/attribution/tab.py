"""Attribution tab: why the model gave a class its score, where in the photo and through which
channels (``featviz_widgets.attribution``).

The Class dropdown is bound to the explorer's ``target_class`` (None: the top class); a click on
a Predictions row sets it and opens this tab. The heatmap is a :class:`Picture` over the photo
(hover reads the value under the pointer). Below it, the channels behind the decision: the top
channels of the explained layer by contribution, each drawn as its map over the photo; a click
on one selects that layer and channel in the explorer, so Feature maps, Maximize and Examples
follow.

Fast methods (the gradient CAMs, saliency, guided backprop) are computed as soon as they are
chosen and cached by fingerprint (image, class, method, layer); the slow ones (ScoreCAM,
SmoothGrad, Integrated Gradients, Occlusion) run when Explain is pressed, in the tab's job
runner, with Cancel.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Hashable, Iterator
from dataclasses import replace
from typing import Any

import ipywidgets as w
import numpy as np

from featviz_widgets.attribution import METHODS
from featviz_widgets.widgets._picking import map_tiles, sheet_tiles
from featviz_widgets.widgets.jobs import JobRunner
from featviz_widgets.widgets.strings import error_line
from featviz_widgets.widgets.tabs._base import (
    JobTab,
    PngCache,
    Selection,
    TabContext,
    caption,
    image_widget,
    note,
)
from featviz_widgets.widgets.tabs.attribution.answers import (
    FAST_METHODS,
    LAYER_METHODS,
    Answer,
    class_options,
    explain,
    heat_png,
    strip_png,
    thumbnail,
    top_class,
)

AUTO = ""  # the Layer dropdown's value for "let the library pick the layer"


class AttributionTab(JobTab):
    """Explain ``ex.target_class`` with the chosen method: heatmap, caption, channel strip."""

    name = "attribution"
    title = "Attribution"
    order = 65
    failed_key = "attr_failed"

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self._pngs = PngCache()  # pictures, by fingerprint and opacity
        self._answers = PngCache()  # fast methods' answers, by fingerprint
        self._quiet = False  # the tab moves its own controls: no echo to the explorer
        self._classes_of: int | None = None  # the image_id the Class options were listed for
        self._version = 0  # bumped when a job ends
        # A job is on: from Explain until its end is shown (the worker thread is still alive
        # while it redraws the tab, so the runner's ``running`` cannot say it).
        self._working = False
        self._clock = 0.0
        self.answer: Answer | None = None  # the explanation on show
        self._build()

    def _build(self) -> None:
        say = self.ctx.text
        wide = w.Layout(width="460px")
        self.target = w.Dropdown(description=say("attr_class"), layout=wide)
        self.method = w.Dropdown(options=list(METHODS), value="gradcam",
                                 description=say("attr_method"))  # fmt: skip
        self.layer = w.Dropdown(options=[(say("attr_auto"), AUTO)], value=AUTO,
                                description=say("attr_layer"), layout=wide)  # fmt: skip
        self.opacity = w.FloatSlider(
            value=0.5, min=0.0, max=1.0, step=0.05, description=say("opacity"),
            continuous_update=False, readout_format=".2f",
        )  # fmt: skip
        row = self._job_row(JobRunner("Attribution", cache_if=_answer_bytes), say("attr_run"),
                            "play", say("attr_progress"))  # fmt: skip
        self.target.observe(self._on_target, "value")
        for control in (self.method, self.layer, self.opacity):
            control.observe(self._on_control, "value")
        self.message = w.HTML()
        self.caption = w.HTML()
        self.image = image_widget(self.ctx.lang)
        self.strip_caption = w.HTML()
        self.strip = image_widget(self.ctx.lang)
        self.strip.on_event(self._on_strip)
        for part in ("target", "method", "layer", "image", "strip"):
            getattr(self, part).add_class(f"featviz-attribution-{part}")
        self.widget = w.VBox(
            [
                w.HBox([self.target, self.method]),
                w.HBox([self.layer, self.opacity]),
                row,
                self.status,
                self.message,
                self.caption,
                self.image,
                self.strip_caption,
                self.strip,
            ]
        )

    # -- the controls ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _on_target(self, change: dict) -> None:
        """The user picked a class: it becomes the explorer's ``target_class``."""
        if not self._quiet and self.ctx.select is not None and change["new"] is not None:
            self.ctx.select(target_class=change["new"])

    def _on_control(self, _change: dict) -> None:
        if not self._quiet:
            self.ctx.request()

    def _controls(self) -> list[w.ValueWidget]:
        return [self.target, self.method, self.layer]

    def layer_picked(self, layer: str) -> None:
        """The user chose a layer in the explorer: offer it next to "auto" (and follow it when
        the explorer's layer was the one chosen here)."""
        follow = self.layer.value != AUTO
        with self._quietly():
            self.layer.options = [(self.ctx.text("attr_auto"), AUTO), (layer, layer)]
            self.layer.value = layer if follow else AUTO

    def _on_strip(self, event: dict) -> None:
        """A click on a channel of the strip selects that layer and channel in the explorer."""
        channel, answer = event.get("channel"), self.answer
        if event.get("event") != "pick" or answer is None or answer.layer is None:
            return
        if isinstance(channel, int) and not isinstance(channel, bool) and self.ctx.select:
            self.ctx.select(layer=answer.layer, channel=channel)

    # -- Tab protocol ----------------------------------------------------------------------
    def key(self, sel: Selection) -> Hashable:
        return (self._fingerprint(sel), float(self.opacity.value), self._version, self._working)

    def _fingerprint(self, sel: Selection) -> tuple:
        """What an explanation depends on: image, class, method, layer."""
        target = sel.target_class if sel.target_class is not None else top_class(self.ctx.data)
        return (sel.image_id, target, self.method.value, self.layer.value or None)

    def draw(self, sel: Selection) -> None:
        say, data = self.ctx.text, self.ctx.data
        if data.class_vector() is None or data.frame_count is not None:
            # No class to explain (boxes, a mask, a feature vector), or a clip: say so instead.
            what = "attr_clip" if data.frame_count is not None else "attr_no_classes"
            self.status.value = ""
            self._show_answer(None, note(say(what)))
            return
        self._list_classes(sel)
        fingerprint = self._fingerprint(sel)
        image_id, target, method, layer = fingerprint
        self.layer.disabled = self._working or method not in LAYER_METHODS
        if method in FAST_METHODS:
            try:
                answer = self._answers.get(fingerprint, lambda: self._explain_now(fingerprint))
            except ValueError as refused:  # this class, method or layer cannot be explained
                self.status.value = ""  # (e.g. no layer's gradient reaches the class): say why
                self._show_answer(None, note(error_line(self.ctx.lang, refused)))
                return
        else:
            answer = self.runner.cached(fingerprint)
        if answer is None:
            if not self._cancelled(fingerprint):  # a cancelled run keeps its status line
                key = "attr_running" if self._working else "attr_press"
                name = data.class_name(target, self.ctx.lang)
                self.status.value = caption(say(key, method=method, name=name))
            self._show_answer(None, "")
            return
        if not self._working and method in FAST_METHODS:
            self.status.value = ""
        self._show_answer(answer, "", image_id, sel)

    def _explain_now(self, fingerprint: tuple) -> Answer:
        """A fast method, in the kernel's thread: a job holding the model past the explorer's
        wait raises ModelBusy (shown in the message line) instead of freezing the notebook."""
        _, target, method, layer = fingerprint
        with self.ctx.data.using():
            return explain(self.ctx.data, target, method, layer)

    def _cancelled(self, fingerprint: tuple) -> bool:
        """Whether the last run was of ``fingerprint`` and was cancelled (it left no answer)."""
        runner = self.runner
        return (not self._working and runner.job == fingerprint and runner.result is None
                and runner.error is None)  # fmt: skip

    def _list_classes(self, sel: Selection) -> None:
        """Fill the Class options once per image; show the explorer's ``target_class``."""
        data, say = self.ctx.data, self.ctx.text
        with self._quietly():
            if self._classes_of != sel.image_id:
                self._classes_of = None
                self.target.options = class_options(data, say, self.ctx.lang)
                self._classes_of = sel.image_id
            chosen = sel.target_class if sel.target_class is not None else top_class(data)
            if self.target.value != chosen:
                self.target.value = chosen

    # -- the pictures ----------------------------------------------------------------------
    def _show_answer(
        self, answer: Answer | None, message: str, image_id: int = 0, sel: Selection | None = None
    ) -> None:
        self.answer = answer
        self.message.value = message
        shown = answer is not None
        for part in (self.caption, self.image, self.strip_caption, self.strip):
            part.layout.display = None if shown else "none"
        if answer is None or sel is None:
            return
        photo = self.ctx.data.prepared.display
        opacity = float(self.opacity.value)
        fingerprint = self._fingerprint(sel)
        png = self._pngs.get(("heat", fingerprint, opacity),
                             lambda: heat_png(photo, answer, opacity))  # fmt: skip
        size = (photo.shape[1], photo.shape[0])
        heat = answer.heat
        title = self.ctx.data.class_name(answer.target, self.ctx.lang)  # the tooltip's head
        tiles = replace(map_tiles(heat, None, size, "overlay"), title=title)
        self.image.show(png, tiles, lambda: heat[None])
        self.caption.value = caption(self._describe(answer))
        self._show_strip(answer, photo, fingerprint, opacity)

    def _describe(self, answer: Answer) -> str:
        say = self.ctx.text
        name = self.ctx.data.class_name(answer.target, self.ctx.lang)
        if answer.layer is None:
            layer = say("attr_pixels")
        elif self.layer.value == AUTO:
            layer = say("attr_auto_layer", layer=answer.layer)
        else:
            layer = answer.layer
        return say("attr_caption", name=name, index=answer.target, score=answer.score,
                   method=answer.method, layer=layer)  # fmt: skip

    def _show_strip(
        self, answer: Answer, photo: np.ndarray, fingerprint: tuple, opacity: float
    ) -> None:
        """The top channels at the answer's layer, each its map over the photo."""
        say, data = self.ctx.text, self.ctx.data
        top = answer.top_channels()
        maps = self._layer_maps(answer)
        if maps is None or len(top) == 0:
            self.strip.layout.display = "none"
            key = "attr_no_channels" if answer.layer is None else "attr_no_strip"
            self.strip_caption.value = note(say(key, method=answer.method, layer=answer.layer))
            return
        thumb = thumbnail(photo)
        png = self._pngs.get(("strip", fingerprint, opacity),
                             lambda: strip_png(thumb, maps, top, opacity))  # fmt: skip
        channels = [int(c) for c in top]
        tiles = sheet_tiles(len(top), thumb.shape[:2], len(top), 2, channels, values=maps[top])
        layer = answer.layer
        self.strip.show(png, tiles, lambda: data.view(layer).maps[top])
        ranked = ", ".join(f"{c} ({answer.channels[c]:+.3g})" for c in channels)
        self.strip_caption.value = caption(
            say("attr_strip", count=len(top), layer=answer.layer, ranked=ranked)
        )

    def _layer_maps(self, answer: Answer) -> np.ndarray | None:
        """The explorer's ``[C, h, w]`` maps of the answer's layer, when they match its channels
        (a layer read through a layout the explorer shows otherwise has no strip)."""
        data = self.ctx.data
        if answer.layer is None or answer.channels is None or not data.has(answer.layer):
            return None
        maps = data.view(answer.layer).maps
        if maps is None or maps.shape[0] != len(answer.channels):
            return None
        return maps

    # -- the job ---------------------------------------------------------------------------
    def run(self) -> None:
        """Explain with the chosen method in the job runner (Explain does this)."""
        data = self.ctx.data
        if self.running or data.class_vector() is None or data.frame_count is not None:
            return  # a job is on, or there is no class to explain (the tab says so)
        sel = self.ctx.selection()
        fingerprint = self._fingerprint(sel)
        _, target, method, layer = fingerprint
        self.progress.value, self.progress.max = 0, 1
        self._clock = time.perf_counter()
        name = self.ctx.data.class_name(target, self.ctx.lang)
        self.status.value = caption(self.ctx.text("attr_running", method=method, name=name))

        def work(cancel: threading.Event, progress: Any) -> Answer | None:
            answer = explain(data, target, method, layer)
            progress(1)
            return None if cancel.is_set() else answer

        self._working = True
        try:
            started = self._submit(fingerprint, work, self._on_progress)
        except BaseException:
            self._working = False
            raise
        if not started:
            self._ended(None)  # the cache answered: just redraw

    def _on_progress(self, done: int) -> None:
        self.progress.value = done

    def _show_result(self, job: Hashable, result: Any) -> None:
        say = self.ctx.text
        if result is None:
            self.status.value = caption(say("attr_cancelled", method=job[2]))
            return
        seconds = time.perf_counter() - self._clock
        self.status.value = caption(say("attr_done", method=job[2], seconds=seconds))

    def _ended(self, error: BaseException | None) -> None:
        """Redraw with the new answer (a failure keeps its status line)."""
        self._working = False
        self._version += 1
        if error is None:
            with contextlib.suppress(Exception):  # a failing redraw shows in the message line
                self.ctx.request()

    def close(self) -> None:
        self.strip.on_event(None)  # a late click must not reach a closed explorer
        super().close()
        self._answers.clear()


def _answer_bytes(answer: Answer | None) -> int | None:
    """What a finished job keeps in the runner's cache: an answer (a cancelled run is None)."""
    return None if answer is None else answer.nbytes
