"""Maximize tab: activation maximization of the explorer's layer, run by a JobRunner.

Run hands :func:`featviz_widgets.optvis.maximize` to the tab's :class:`JobRunner` (a worker
thread), so the kernel keeps answering the other controls; each step moves the progress bar and
every few steps show a preview; Cancel sets the runner's event, checked every step. Finished
pictures are cached per (layer, target, settings), so asking again shows them at once.

The rest of the package does one job each: ``job`` (the request and its run), ``planning`` (the
receptive-field rule and the channel pick), ``sizes`` (which sizes the model takes), ``kernels``
(the first convolution's kernels) and ``pictures`` (the result sheet and its tiles).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import ipywidgets as w
import numpy as np

from featviz_widgets import render
from featviz_widgets.optvis.targets import LayerChoice
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._picking import connect
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
from featviz_widgets.widgets.tabs.maximize.job import Job, result_bytes, run_job
from featviz_widgets.widgets.tabs.maximize.pictures import preview_png, result_picture, result_tiles
from featviz_widgets.widgets.tabs.maximize.planning import plan_channels
from featviz_widgets.widgets.tabs.maximize.sizes import SIZES, accepted_size, size_choices

MODES = ("channel", "first", "class")  # this channel, the first N channels, a class
PRESETS = ("lucid", "classic")


class MaximizeTab(JobTab):
    """Controls, progress and result of activation maximization for the current selection."""

    name = "maximize"
    title = "Maximize"
    order = 40
    failed_key = "max_failed"

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self._pngs = PngCache()  # the picture of each cached result
        self._last: tuple[Job, str, bytes | None] | None = None  # what the last run left showing
        self._rejected: str | None = None  # why a size failed: Size then offers the native one
        self._quiet = False  # set while the tab itself rewrites option lists
        self._picked = False  # the user chose the explorer's layer: the receptive-field rule yields
        self._tiles: tuple[bytes, Tiles | None] | None = None  # the last result picture's tiles
        self._build()

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
        row = self._job_row(JobRunner("Maximize", cache_if=result_bytes), say("run"), "play",
                            say("progress"))  # fmt: skip
        self.why = w.HTML()  # one line when the receptive-field rule moved the target
        self.image = connect(image_widget(self.ctx.lang), self.ctx)  # a click picks the channel
        self.image.layout.display = "none"
        for control in self._controls():
            control.observe(self._on_control, "value")
        self.widget = w.VBox(
            [
                w.HBox(
                    [w.Label(say("tab_maximize"), layout=w.Layout(margin="0 8px 0 0")), self.mode]
                ),  # fmt: skip
                w.HBox([self.count, self.klass]),
                w.HBox([self.steps, self.size]),
                self.size_note,
                w.HBox([self.preset, self.seed]),
                row,
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
        settings = (int(self.steps.value), int(self.size.value), str(self.preset.value),
                    int(self.seed.value))  # fmt: skip
        if self.mode.value == "class":
            if data.class_vector() is None:
                raise ValueError(self.ctx.text("max_no_class"))
            # The model's output, whatever layer the explorer shows: one cache entry.
            return Job("", "class", (int(self.klass.value),), *settings)
        choice, channels, strongest = plan_channels(
            data, sel, mode=self.mode.value, count=int(self.count.value),
            size=int(self.size.value), picked=self._picked, say=self.ctx.text,
        )  # fmt: skip
        return Job(
            choice.layer, self.mode.value, channels, *settings,
            asked=sel.layer if choice.moved else "", reason=self._reason(choice),
            strongest=strongest,
        )  # fmt: skip

    def _reason(self, choice: LayerChoice) -> str:
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
            sizes, text = size_choices(data, self._rejected, self.ctx.text)
            if tuple(self.size.options) != sizes:
                self.size.options = sizes
                self.size.value = 128 if 128 in sizes else sizes[0]
            self.size_note.value = note(text) if text else ""
        finally:
            self._quiet = False

    def _accepted(self, data: ExplorerData, job: Job) -> Job:
        """``job`` at a size the model accepts: its own, or the explorer's when it is rejected
        (Size then offers only that one, and says why)."""
        size, rejected = accepted_size(data, job.size, self.ctx.text)
        if rejected is None:
            return job
        self._rejected = rejected
        self._sync_options(data)
        return replace(job, size=size)

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
            text = str(error) if isinstance(error, ValueError) else error_line(self.ctx.lang, error)
            self._show_status(note(text), None)
            raise
        # Empty first, then the new length: the bar never flashes the last run's fill at the start.
        self.progress.value, self.progress.max = 0, job.steps
        what = job.describe(self.ctx.lang)
        self._show_status(caption(self.ctx.text("max_running", what=what)), None)
        started = self._submit(
            job, lambda cancel, progress: run_job(data, job, cancel, progress), self._on_step
        )
        if not started:  # answered from the cache
            png = self._png(job, self.runner.result)
            self._show_status(caption(self.ctx.text("max_cached", what=what)), png)

    def _on_step(self, step: int, value: float, preview: Any) -> None:
        self.progress.value = min(int(step), self.progress.max)
        if preview is not None:
            self._show_picture(preview_png(preview))
        self.status.value = caption(
            self.ctx.text("max_step", step=step, steps=self.progress.max, value=value)
        )

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
        text = self._failure(error)
        self._last = (job, text, None)
        self._show_status(text, None)

    def _png(self, job: Job, result: Any) -> bytes:
        """The picture of a result (kept under the budget per job), the first conv's kernels beside."""
        if result.cancelled:
            png = preview_png(result.images)
        else:
            png = self._pngs.get(
                job, lambda: render.to_png(result_picture(self.ctx.data, job, result))
            )
        self._tiles = (png, result_tiles(job, result.images))
        return png

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
