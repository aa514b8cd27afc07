"""Maximize tab: activation maximization of the explorer's layer, run in one worker thread.

Run starts :func:`featviz_widgets.optvis.maximize` in a ``threading.Thread`` so the kernel keeps
answering the other controls; ``on_step`` moves the progress bar and shows a preview every few
steps; Cancel sets a ``threading.Event`` that the optimizer checks every step. Finished pictures are
cached per (layer, target, settings), so asking again shows them at once.

Image sizes: a model with a fixed input size (torchvision's VisionTransformer says so in
``image_size``) is offered that size only. For other models, Run first checks a size other than the
explorer's own with one forward of the photo at that size; a model that rejects it (MaxViT, a CNN
with a fixed Linear head) gets a clear message and is offered the explorer's size from then on.
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass
from typing import Any

import ipywidgets as w
import numpy as np
import torch
import torch.nn.functional as F

from featviz_widgets import layout, render
from featviz_widgets.engine import model_dtype, preserved_state
from featviz_widgets.optvis import MaximizeSettings, maximize, objectives
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets.tabs._base import Selection, Tab, caption, image_widget, note, tile_rgb

MODES = (("this channel", "channel"), ("first N channels", "first"), ("a class", "class"))
SIZES = (64, 96, 128, 160, 224)
PRESETS = ("lucid", "classic")
DISPLAY_MIN = 256  # px: results smaller than this are shown enlarged by an integer factor


@dataclass(frozen=True)
class Job:
    """One optimization request: what to maximize and how (hashable: the cache key)."""

    layer: str
    mode: str
    channels: tuple[int, ...]
    steps: int
    size: int
    preset: str
    seed: int

    def describe(self) -> str:
        if self.mode == "class":
            what = f"class {self.channels[0]} (model output)"
        elif len(self.channels) == 1:
            what = f"{self.layer} channel {self.channels[0]}"
        else:
            what = f"{self.layer} channels {self.channels[0]}-{self.channels[-1]}"
        return f"{what} · {self.steps} steps · {self.size}px · {self.preset} · seed {self.seed}"


class MaximizeTab(Tab):
    """Controls, progress and result of activation maximization for the current selection."""

    title = "Maximize"

    def __init__(self, request, context) -> None:
        super().__init__(request)
        self._context = context  # () -> (ExplorerData, Selection): what the explorer shows now
        self._build()
        self._cache: dict[Job, tuple[bytes, Any]] = {}
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._error: BaseException | None = None
        self._result: Any = None
        self._job: Job | None = None
        self._last: tuple[Job, str, bytes | None] | None = None  # what the last run left showing
        self._accepted: set[int] = set()  # sizes the model ran at
        self._rejected: str | None = None  # why a size failed: Size then offers the native one
        self._quiet = False  # set while the tab itself rewrites option lists

    # -- widgets ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.mode = w.ToggleButtons(options=MODES, value="channel")
        self.count = w.IntSlider(value=16, min=2, max=64, description="N", continuous_update=False)
        self.klass = w.Dropdown(options=[("0", 0)], value=0, description="Class")
        self.steps = w.IntSlider(
            value=64, min=4, max=512, step=4, description="Steps", continuous_update=False
        )
        self.size = w.Dropdown(options=SIZES, value=128, description="Size")
        self.size_note = w.HTML()
        self.preset = w.Dropdown(options=PRESETS, value="lucid", description="Preset")
        self.seed = w.BoundedIntText(value=0, min=0, max=2**31 - 1, description="Seed")
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Progress")
        self.status = w.HTML()
        self.image = image_widget()
        self.image.layout.display = "none"
        for control in self._controls():
            control.observe(self._on_control, "value")
        for name in ("run_button", "cancel_button", "progress", "status"):
            getattr(self, name).add_class(f"featviz-max-{name.split('_')[0]}")
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.widget = w.VBox(
            [
                w.HBox([w.Label("Maximize", layout=w.Layout(margin="0 8px 0 0")), self.mode]),
                w.HBox([self.count, self.klass]),
                w.HBox([self.steps, self.size]),
                self.size_note,
                w.HBox([self.preset, self.seed]),
                w.HBox([self.run_button, self.cancel_button, self.progress]),
                self.status,
                self.image,
            ]
        )

    def _controls(self) -> list[w.ValueWidget]:
        return [self.mode, self.count, self.klass, self.steps, self.size, self.preset, self.seed]

    def _on_control(self, _: dict) -> None:
        if not self._quiet:
            self.request()

    # -- Tab protocol ----------------------------------------------------------------------
    def key(self, sel: Selection) -> tuple:
        values = tuple(c.value for c in self._controls())
        return (sel.layer, sel.channel, sel.image_id, values, self.running)

    def draw(self, data: ExplorerData, sel: Selection) -> None:
        self._sync_options(data)
        self.count.layout.display = None if self.mode.value == "first" else "none"
        self.klass.layout.display = None if self.mode.value == "class" else "none"
        if self.running:
            return  # the worker owns the picture and the status until it ends
        try:
            job = self.job(data, sel)
        except ValueError as error:
            self._show_status(note(str(error)), None)
            return
        if job in self._cache:
            self._show_status(caption(f"cached: {job.describe()}"), self._cache[job][0])
        elif self._last is not None and self._last[0] == job:
            self._show_status(*self._last[1:])
        else:
            self._show_status(caption(f"press Run to maximize {job.describe()}"), None)

    def png(self) -> bytes | None:
        return self.image.value if self.image.layout.display != "none" else None

    # -- the target ------------------------------------------------------------------------
    def job(self, data: ExplorerData, sel: Selection) -> Job:
        """The request the current controls describe (ValueError when it cannot run)."""
        mode, layer = self.mode.value, sel.layer
        if mode == "class":
            if data.class_vector() is None:
                raise ValueError("the model's output is not a class vector: no class to maximize")
            layer = ""  # the model's output, whatever layer the explorer shows: one cache entry
            channels: tuple[int, ...] = (int(self.klass.value),)
        else:
            if sel.layer not in data.infos:
                raise ValueError(
                    f"{sel.layer} is not a module output (a graph node or a repeated call); "
                    "maximize works on module names such as those under 'convolutions'"
                )
            view = data.view(sel.layer)
            # optvis finds the same channel axis (the layout's: last for channels-last, tokens and
            # windows) when it runs, so a channel here is the map this explorer shows
            axis = layout.channel_axis(layout.hint_for(data.hints, sel.layer))
            if view.maps is None or view.shape[axis] != view.channels:
                raise ValueError(
                    f"{sel.layer} ({view.label}) has no feature maps to maximize; "
                    "pick a convolution-like layer or a class of the output"
                )
            if mode == "first":
                channels = tuple(range(min(int(self.count.value), view.channels)))
            elif isinstance(sel.channel, int):
                channels = (sel.channel,)
            else:
                channels = (int(data.stats(sel.layer).strongest[0]),)
        return Job(
            layer, mode, channels, int(self.steps.value), int(self.size.value),
            str(self.preset.value), int(self.seed.value),
        )  # fmt: skip

    def _sync_options(self, data: ExplorerData) -> None:
        """Class and size choices for this model (without a redraw per changed option list)."""
        self._quiet = True
        try:
            logits = data.class_vector()
            n = 0 if logits is None else len(logits)
            if len(self.klass.options) != n and n:
                top = int(np.argmax(logits))
                self.klass.options = [(f"{i} {data.class_name(i)}", i) for i in range(n)]
                self.klass.value = top
            self._sync_sizes(data)
        finally:
            self._quiet = False

    def _sync_sizes(self, data: ExplorerData) -> None:
        fixed, native = fixed_input_size(data.model), native_size(data)
        if fixed is not None:
            sizes = (fixed,)
            text = f"this model takes {fixed}x{fixed} images only (its image_size)"
        elif self._rejected is not None and native is not None:
            sizes, text = (native,), self._rejected
        else:
            sizes, text = SIZES, ""
        if tuple(self.size.options) != sizes:
            self.size.options = sizes
            self.size.value = 128 if 128 in sizes else sizes[0]
        self.size_note.value = note(text) if text else ""

    def _one_size(self, data: ExplorerData) -> bool:
        return fixed_input_size(data.model) is not None or self._rejected is not None

    def _check_size(self, data: ExplorerData, size: int) -> None:
        """Raise a clear ValueError when the model rejects ``size`` (one forward, once per size)."""
        native = native_size(data)
        if size == native or size in self._accepted:
            return
        error = _probe(data, size)
        if error is None:
            self._accepted.add(size)
            return
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        why = f"{type(error).__name__}: {first}"[:200]
        offer = f"; Size now offers {native}px, the explorer's image size" if native else ""
        self._rejected = f"this model does not accept {size}x{size} images ({why}){offer}"
        self._sync_options(data)
        raise ValueError(self._rejected)

    # -- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        """Start maximizing the current target in a worker thread (cached results show at once)."""
        if self.running:
            return
        data, sel = self._context()
        self._sync_options(data)
        try:
            job = self.job(data, sel)
            if job not in self._cache:
                self._check_size(data, job.size)
        except ValueError as error:  # shown where the user looks, and raised to the caller
            self._show_status(note(str(error)), None)
            raise
        if job in self._cache:
            png, self._result = self._cache[job]
            self._show_status(caption(f"cached: {job.describe()}"), png)
            return
        self._job, self._error, self._result = job, None, None
        self._cancel.clear()
        self.progress.max, self.progress.value = job.steps, 0
        self._set_running(True)
        self._show_status(caption(f"running: {job.describe()}"), None)
        self._thread = threading.Thread(
            target=self._work, args=(data, job), name="featviz-maximize", daemon=True
        )
        self._thread.start()

    def cancel(self) -> None:
        """Ask the running optimization to stop (honoured within one step)."""
        self._cancel.set()

    def stop(self) -> None:
        """Cancel a run and wait for its thread to end (its error, if any, stays in the tab)."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run ends; return its MaximizeResult, or raise the error it hit."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"maximize still running after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._result

    def _work(self, data: ExplorerData, job: Job) -> None:
        try:
            settings = MaximizeSettings(
                preset=job.preset, steps=job.steps, size=job.size, seed=job.seed,
                preview_every=max(1, job.steps // 16),
            )  # fmt: skip
            result = maximize(
                data.model, _target(job), settings=settings, on_step=self._on_step,
                cancel=self._cancel, weights=data.weights,
            )  # fmt: skip
            self._finish(job, result)
        except BaseException as error:  # shown in the tab and re-raised by wait()
            self._error = error
            message = f"maximize failed: {type(error).__name__}: {error}"
            if self.progress.value == 0 and job.preset != "classic" and self._one_size(data):
                message += (
                    f"; this model takes one input size and the {job.preset!r} preset's random "
                    "pad and jitter change the size: try the 'classic' preset"
                )
            text = f"<div style='color:#b00020'>{html.escape(message)}</div>"
            self._last = (job, text, None)
            self._show_status(text, None)
        finally:
            self._set_running(False)

    def _on_step(self, step: int, value: float, preview: Any) -> None:
        self.progress.value = min(int(step), self.progress.max)
        if preview is not None:
            self._show_picture(render.to_png(_sheet(preview)))
        self.status.value = caption(f"step {step}/{self.progress.max} · objective {value:.4g}")

    def _finish(self, job: Job, result: Any) -> None:
        self._result = result
        png = render.to_png(_sheet(result.images))
        if result.cancelled:
            text = f"cancelled after {result.steps} steps: {job.describe()}"
        else:
            self._cache[job] = (png, result)
            last = result.history[-1] if result.history else float("nan")
            text = f"done: {job.describe()} · objective {last:.4g}"
        self.progress.value = min(result.steps, self.progress.max)
        self._last = (job, caption(text), png)
        self._show_status(caption(text), png)

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
        self.image.value = png
        self.image.layout.display = None


def fixed_input_size(model: torch.nn.Module) -> int | None:
    """The one input size a model declares (torchvision VisionTransformer's ``image_size``), or None.

    Examples
    --------
    >>> fixed_input_size(torchvision.models.vit_b_16())  # doctest: +SKIP
    224
    """
    size = getattr(model, "image_size", None)
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def native_size(data: ExplorerData) -> int | None:
    """The side of the explorer's own (square) input, which the model is known to accept."""
    h, w_ = data.prepared.batch.shape[-2:]
    return int(h) if h == w_ else None


def _probe(data: ExplorerData, size: int) -> Exception | None:
    """One forward of the photo resized to ``size``; the error it raised, or None."""
    batch = F.interpolate(data.prepared.batch, size=(size, size), mode="bilinear")
    x = batch.to(data.device, model_dtype(data.model))
    with preserved_state(data.model), torch.no_grad():
        data.model.eval()
        try:
            data.model(x)
        except Exception as error:  # the message for the user names it
            return error
    return None


def _target(job: Job) -> Any:
    if job.mode == "class":
        return objectives.class_logit(job.channels[0])
    if len(job.channels) == 1:
        return (job.layer, job.channels[0])
    return (job.layer, list(job.channels))


def _sheet(images: Any) -> np.ndarray:
    """One picture from a single image, a batch array or a list of images, at least ~256 px."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        sheet = images
    else:
        pictures = list(images)
        sheet = tile_rgb(pictures, cols=int(np.ceil(np.sqrt(len(pictures)))))
    # Small pictures (64-128 px) are enlarged with crisp pixels rather than shown thumbnail-size.
    scale = max(1, DISPLAY_MIN // max(sheet.shape[:2]))
    return sheet if scale == 1 else sheet.repeat(scale, axis=0).repeat(scale, axis=1)
