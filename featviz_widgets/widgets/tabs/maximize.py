"""Maximize tab: activation maximization of the explorer's layer, run by a JobRunner.

Run hands :func:`featviz_widgets.optvis.maximize` to the tab's :class:`JobRunner` (a worker
thread), so the kernel keeps answering the other controls; ``on_step`` moves the progress bar and
shows a preview every few steps; Cancel sets the runner's event, checked every step. Finished
pictures are cached per (layer, target, settings), so asking again shows them at once.

Image sizes are the model owner's facts. A model that declares one input size
(``owner.fixed_input_size()``, e.g. a ViT's ``image_size``) is offered every size: optvis resizes
each picture to the model's size before the forward. For other models, Run asks
``owner.accepts(size, batch)`` (one probe forward per size, cached); a size the model rejects (a
CNN with a fixed Linear head) runs at the explorer's own size instead, says so, and Size offers
that size from then on, so the first click still gives a picture.

Targets worth optimizing (``_maximize_parts``): a layer whose units see less than 1/8 of the
picture is swapped for the nearest block that sees enough, with a one-line note, unless the user
picked the layer or a channel of it; in grid mode the channel is the strongest on the image, named
before Run; the first convolution's kernels are shown beside its picture.
"""

from __future__ import annotations

import html
import threading
from dataclasses import replace
from typing import Any

import ipywidgets as w
import numpy as np

from featviz_widgets import layout, render
from featviz_widgets.optvis import MaximizeSettings, maximize
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._maximize_parts import (
    SHEET_PAD,
    Job,
    enlarge_factor,
    enlarged,
    first_conv_kernels,
    plan_layer,
    result_bytes,
    sheet,
    sheet_cols,
    square_side,
    target_of,
    with_kernels,
)
from featviz_widgets.widgets._picking import connect, sheet_tiles
from featviz_widgets.widgets._picture import Tiles
from featviz_widgets.widgets.jobs import JobRunner
from featviz_widgets.widgets.strings import error_line, say
from featviz_widgets.widgets.tabs._base import (
    JobTab,
    PngCache,
    Selection,
    TabContext,
    caption,
    image_widget,
    note,
)

MODES = ("channel", "first", "class")  # this channel, the first N channels, a class
SIZES = (64, 96, 128, 160, 224)
PRESETS = ("lucid", "classic")


class MaximizeTab(JobTab):
    """Controls, progress and result of activation maximization for the current selection."""

    name = "maximize"
    title = "Maximize"

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self._build()
        self.runner = JobRunner("Maximize", cache_if=result_bytes)
        self._pngs = PngCache()  # the picture of each cached result
        self._last: tuple[Job, str, bytes | None] | None = None  # what the last run left showing
        self._rejected: str | None = None  # why a size failed: Size then offers the native one
        self._quiet = False  # set while the tab itself rewrites option lists
        self._picked = False  # the user chose the explorer's layer: the receptive-field rule yields

    # -- widgets ---------------------------------------------------------------------------
    def _build(self) -> None:
        say = self.ctx.text
        self.mode = w.ToggleButtons(options=[(say(f"mode_{m}"), m) for m in MODES], value="channel")
        self.count = w.IntSlider(value=16, min=2, max=64, description=say("count"),
                                 continuous_update=False)  # fmt: skip
        self.klass = w.Dropdown(options=[("0", 0)], value=0, description=say("class"))
        self.steps = w.IntSlider(
            value=64, min=4, max=512, step=4, description=say("steps"), continuous_update=False
        )
        self.size = w.Dropdown(options=SIZES, value=128, description=say("size"))
        self.size_note = w.HTML()
        self.preset = w.Dropdown(options=PRESETS, value="lucid", description=say("preset"))
        self.seed = w.BoundedIntText(value=0, min=0, max=2**31 - 1, description=say("seed"))
        self.run_button = w.Button(description=say("run"), button_style="primary", icon="play")
        self.cancel_button = w.Button(description=say("cancel"), icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, description=say("progress"))
        self.status = w.HTML()
        self.why = w.HTML()  # one line when the receptive-field rule moved the target
        self.image = connect(image_widget(self.ctx.lang), self.ctx)  # a click picks the channel
        self.image.layout.display = "none"
        self._tiles: tuple[bytes, Tiles | None] | None = None  # the last result picture's tiles
        for control in self._controls():
            control.observe(self._on_control, "value")
        for name in ("run_button", "cancel_button", "progress", "status"):
            getattr(self, name).add_class(f"featviz-max-{name.split('_')[0]}")
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.widget = w.VBox(
            [
                w.HBox([w.Label(say("tab_maximize"), layout=w.Layout(margin="0 8px 0 0")),
                        self.mode]),  # fmt: skip
                w.HBox([self.count, self.klass]),
                w.HBox([self.steps, self.size]),
                self.size_note,
                w.HBox([self.preset, self.seed]),
                w.HBox([self.run_button, self.cancel_button, self.progress]),
                self.why,
                self.status,
                self.image,
            ]
        )

    def _controls(self) -> list[w.ValueWidget]:
        return [self.mode, self.count, self.klass, self.steps, self.size, self.preset, self.seed]

    def _on_control(self, _: dict) -> None:
        if not self._quiet:
            self.ctx.request()

    def layer_picked(self, layer: str) -> None:
        """The user chose a layer: from now on it is maximized as chosen."""
        self._picked = True

    # -- Tab protocol ----------------------------------------------------------------------
    def key(self, sel: Selection) -> tuple:
        values = tuple(c.value for c in self._controls())
        return (sel.layer, sel.channel, sel.image_id, values, self.running, self._picked)

    def draw(self, sel: Selection) -> None:
        data = self.ctx.data
        self._sync_options(data)
        self.count.layout.display = None if self.mode.value == "first" else "none"
        self.klass.layout.display = None if self.mode.value == "class" else "none"
        if self.running:
            return  # the worker owns the picture and the status until it ends
        try:
            job = self.job(data, sel)
        except ValueError as error:
            self.why.value = ""
            self._show_status(note(str(error)), None)
            return
        self.why.value = note(job.reason) if job.reason else ""
        result = self.runner.cached(job)
        say, what = self.ctx.text, job.describe(self.ctx.lang)
        if result is not None:
            self._show_status(caption(say("max_cached", what=what)), self._png(job, result))
        elif self._last is not None and self._last[0] == job:
            self._show_status(*self._last[1:])
        else:
            self._show_status(caption(say("max_press_run", what=what)), None)

    # -- the target ------------------------------------------------------------------------
    def job(self, data: ExplorerData, sel: Selection) -> Job:
        """The request the current controls describe (ValueError when it cannot run)."""
        if self.mode.value != "class":
            return self._channel_job(data, sel)
        if data.class_vector() is None:
            raise ValueError(self.ctx.text("max_no_class"))
        # The model's output, whatever layer the explorer shows: one cache entry.
        return Job(
            "", "class", (int(self.klass.value),), int(self.steps.value), int(self.size.value),
            str(self.preset.value), int(self.seed.value),
        )  # fmt: skip

    def _channel_job(self, data: ExplorerData, sel: Selection) -> Job:
        """A channel (or first-N) job, on the layer the receptive-field rule settles on."""
        say = self.ctx.text
        if sel.layer not in data.infos:
            raise ValueError(say("max_not_module", layer=sel.layer))
        explicit = self._picked or isinstance(sel.channel, int)
        with data.using():
            choice = plan_layer(data, sel.layer, int(self.size.value), explicit)
        layer = choice.layer
        view = data.view(layer)
        # optvis finds the same channel axis (the layout's: last for channels-last, tokens and
        # windows) when it runs, so a channel here is the map this explorer shows
        axis = layout.channel_axis(layout.hint_for(data.hints, layer))
        if view.maps is None or view.shape[axis] != view.channels:
            raise ValueError(say("max_no_maps", layer=layer, shape=view.label))
        strongest = False
        if self.mode.value == "first":
            channels = tuple(range(min(int(self.count.value), view.channels)))
        elif isinstance(sel.channel, int) and not choice.moved:
            channels = (sel.channel,)
        else:
            channels, strongest = (int(data.stats(layer).strongest[0]),), True
        return Job(
            layer, self.mode.value, channels, int(self.steps.value), int(self.size.value),
            str(self.preset.value), int(self.seed.value), asked=sel.layer if choice.moved else "",
            reason=self._reason(choice), strongest=strongest,
        )  # fmt: skip

    def _reason(self, choice: Any) -> str:
        """Why the target moved (optvis's message ``layer_moved``), in the tab's language."""
        return say(self.ctx.lang, choice.reason) if choice.moved else ""

    def _sync_options(self, data: ExplorerData) -> None:
        """Class and size choices for this model (without a redraw per changed option list)."""
        self._quiet = True
        try:
            logits = data.class_vector()
            n = 0 if logits is None else len(logits)
            if len(self.klass.options) != n and n:
                top = int(np.argmax(logits))
                names = [data.class_name(i, self.ctx.lang) for i in range(n)]
                self.klass.options = [(f"{i} {name}", i) for i, name in enumerate(names)]
                self.klass.value = top
            self._sync_sizes(data)
        finally:
            self._quiet = False

    def _sync_sizes(self, data: ExplorerData) -> None:
        fixed, native = data.owner.fixed_input_size(), square_side(data)
        if fixed is not None:
            sizes = SIZES
            text = self.ctx.text("max_fixed_size", height=fixed[0], width=fixed[1])
        elif self._rejected is not None and native is not None:
            sizes, text = (native,), self._rejected
        else:
            sizes, text = SIZES, ""
        if tuple(self.size.options) != sizes:
            self.size.options = sizes
            self.size.value = 128 if 128 in sizes else sizes[0]
        self.size_note.value = note(text) if text else ""

    def _accepted(self, data: ExplorerData, job: Job) -> Job:
        """``job`` at a size the model accepts: its own, or the explorer's when it is rejected.

        One probe forward per new size (cached by the model's owner); a model that declares its
        size needs none (optvis resizes the picture to it).
        """
        if data.owner.fixed_input_size() is not None:
            return job
        with data.using():
            why = data.owner.accepts(job.size, data.prepared.batch)
        if why is None:
            return job
        native = square_side(data)
        if native is None:
            raise ValueError(self.ctx.text("max_rejected", size=job.size, why=why))
        self._rejected = self.ctx.text("max_rejected_now", size=job.size, why=why, native=native)
        self._sync_options(data)
        return replace(job, size=native)

    # -- running ---------------------------------------------------------------------------
    def run(self) -> None:
        """Start maximizing the current target in a worker thread (cached results show at once)."""
        if self.running:
            return
        data, sel = self.ctx.data, self.ctx.selection()
        try:
            self._sync_options(data)
            job = self.job(data, sel)
            if self.runner.cached(job) is None:
                job = self._accepted(data, job)
        except Exception as error:  # shown where the user looks, and raised to the caller
            # the tab's own ValueErrors are sentences already; anything else says what it is
            text = (
                str(error) if isinstance(error, ValueError) else error_line(self.ctx.lang, error)
            )
            self._show_status(note(text), None)
            raise
        # Controls off before the thread starts: a run that fails at once turns them back on.
        # Empty first, then the new length: the bar never flashes the last run's fill at the start.
        self.progress.value, self.progress.max = 0, job.steps
        self._set_running(True)
        self._show_status(caption(self.ctx.text("max_running", what=job.describe(self.ctx.lang))),
                          None)  # fmt: skip
        started = self.runner.submit(
            job, lambda cancel, progress: self._maximize(data, job, cancel, progress),
            owner=data.owner, on_progress=self._on_step, on_finish=self._finished,
        )  # fmt: skip
        if not started:  # answered from the cache
            self._set_running(False)
            png = self._png(job, self.runner.result)
            what = job.describe(self.ctx.lang)
            self._show_status(caption(self.ctx.text("max_cached", what=what)), png)

    def cancel(self) -> None:
        """Ask the running optimization to stop (honoured within one step)."""
        self.runner.cancel()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run ends; return its MaximizeResult, or raise the error it hit."""
        return self.runner.wait(timeout)

    def _maximize(
        self, data: ExplorerData, job: Job, cancel: threading.Event, progress: Any
    ) -> Any:
        settings = MaximizeSettings(
            preset=job.preset, steps=job.steps, size=job.size, seed=job.seed,
            preview_every=max(1, job.steps // 16),
        )  # fmt: skip
        return maximize(
            data.model, target_of(job), settings=settings, on_step=progress, cancel=cancel,
            weights=data.weights, preprocess=data.preprocess,
        )  # fmt: skip

    def _on_step(self, step: int, value: float, preview: Any) -> None:
        self.progress.value = min(int(step), self.progress.max)
        if preview is not None:
            self._show_picture(render.to_png(enlarged(sheet(preview))))
        self.status.value = caption(
            self.ctx.text("max_step", step=step, steps=self.progress.max, value=value)
        )

    def _finished(self, job: Job, result: Any, error: BaseException | None) -> None:
        """The worker's last act: show the result or the error, then free the controls."""
        try:
            if error is None:
                self._show_result(job, result)
            else:
                self._show_failure(job, error)
        finally:
            self._set_running(False)

    def _show_result(self, job: Job, result: Any) -> None:
        png = self._png(job, result)
        say, what = self.ctx.text, job.describe(self.ctx.lang)
        if result.cancelled:
            text = say("max_cancelled", steps=result.steps, what=what)
        else:
            last = result.history[-1] if result.history else float("nan")
            text = say("max_done", what=what, value=last)
        if getattr(result, "frames", None) is not None:  # a video model: a clip, frames in a row
            text += " · " + say("max_clip", frames=len(result.frames[0]))
        self.progress.value = min(result.steps, self.progress.max)
        self._last = (job, caption(text), png)
        self._show_status(caption(text), png)

    def _show_failure(self, job: Job, error: BaseException) -> None:
        message = self.ctx.text("max_failed", error=f"{type(error).__name__}: {error}")
        text = f"<div style='color:#b00020'>{html.escape(message)}</div>"
        self._last = (job, text, None)
        self._show_status(text, None)

    def _png(self, job: Job, result: Any) -> bytes:
        """The picture of a result (kept under the budget per job), the first conv's kernels beside."""
        if result.cancelled:
            png = render.to_png(enlarged(sheet(result.images)))
        else:
            png = self._pngs.get(job, lambda: render.to_png(self._picture(job, result)))
        self._tiles = (png, self._sheet_tiles(job, result.images))
        return png

    @staticmethod
    def _sheet_tiles(job: Job, images: Any) -> Tiles | None:
        """Where each optimized picture is in the enlarged sheet, and its channel (None: a class)."""
        if job.mode == "class":
            return None
        pictures = [images] if isinstance(images, np.ndarray) and images.ndim == 3 else list(images)
        count, (height, width) = len(pictures), pictures[0].shape[:2]
        layout = render.sheet_layout(count, height, width, sheet_cols(count), SHEET_PAD)
        factor = enlarge_factor((layout.height, layout.width))
        return sheet_tiles(count, (height, width), layout.cols, SHEET_PAD, job.channels[:count],
                           scale=factor)  # fmt: skip

    def _picture(self, job: Job, result: Any) -> np.ndarray:
        picture = sheet(result.images)
        kernels = None
        if job.mode != "class":
            which = None if job.asked else job.channels  # moved: every kernel of the layer asked
            kernels = first_conv_kernels(self.ctx.data, job.asked or job.layer, which)
        picture = enlarged(picture)  # the kernels then fill the enlarged picture's height
        return picture if kernels is None else with_kernels(picture, kernels[1])

    def _set_running(self, running: bool) -> None:
        for control in [*self._controls(), self.run_button]:
            control.disabled = running
        self.cancel_button.disabled = not running

    def _show_status(self, text: str, png: bytes | None) -> None:
        self.status.value = text
        if png is None:
            self.image.layout.display = "none"
        else:
            self._show_picture(png)

    def _show_picture(self, png: bytes) -> None:
        """Show ``png``: a result with its tiles (a click picks a channel), a preview without."""
        tiles = self._tiles[1] if self._tiles is not None and self._tiles[0] is png else None
        self.image.show(png, tiles)
        self.image.layout.display = None
