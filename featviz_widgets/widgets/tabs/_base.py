"""What every explorer tab shares: its context, the redraw-only-on-change rule, the job row of a
tab whose work runs in a worker thread, small helpers."""

from __future__ import annotations

import html
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as w

from featviz_widgets.engine import BudgetCache
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._picture import Picture, Tiles
from featviz_widgets.widgets.jobs import JobRunner, Progress, Work
from featviz_widgets.widgets.strings import text

Say = Callable[..., str]  # TabContext.text: a string of the explorer's language by key


@dataclass(frozen=True)
class Selection:
    """The explorer's controls as plain values: everything a tab needs to draw.

    ``channel`` is ``"grid"``, ``"sum"`` or a channel index; ``page`` counts from 0. ``frame``
    (from 0) and ``time_view`` (``"frame"``: that frame; ``"mean"`` / ``"sum"`` over time) matter
    for a video layer only (``LayerView.frames`` is ``[C, T, H, W]``); elsewhere they stay
    ``0`` / ``"frame"`` unless set. ``target_class`` is the class an explanation is about (None:
    the image's top class).
    """

    layer: str
    channel: int | str
    columns: int
    page: int
    page_size: int
    normalization: str
    colormap: str
    order: str
    image_id: int
    frame: int = 0
    time_view: str = "frame"
    target_class: int | None = None


@dataclass(frozen=True)
class TabContext:
    """What a tab gets from its explorer: the data, the current selection, a redraw request.

    ``request()`` asks the explorer to redraw the visible tab (for a tab's own controls);
    ``dataset`` is the explorer's ``dataset=`` (None without one); ``listed()`` gives the layer
    keys the Layer dropdown lists now. ``select(channel=5)`` / ``select(layer="conv1")`` moves the
    explorer's selection exactly as the controls do (a click on a picture uses it); ``lang`` is
    the explorer's language and ``text(key, **values)`` looks a string up in its table.
    """

    data: ExplorerData
    selection: Callable[[], Selection]
    request: Callable[[], None]
    dataset: Any = None
    listed: Callable[[], Sequence[str]] | None = None
    select: Callable[..., None] | None = None
    lang: str = "en"

    def text(self, key: str, **values: object) -> str:
        """The explorer's string ``key`` in its language (see ``widgets/strings``)."""
        return text(self.lang, key, **values)


class Tab:
    """One tab: a widget plus ``update``, which redraws only when its inputs changed.

    Subclasses set ``name`` (the registry key, e.g. ``"maps"``), ``title`` (English) and
    ``order`` (where the tab sits: tabs are shown by increasing ``order``), build ``self.widget``
    and implement ``key`` (what the picture depends on) and ``draw``.
    """

    name = ""
    title = ""
    order = 100
    widget: w.Widget  # built by each subclass

    def __init__(self, ctx: TabContext) -> None:
        self.ctx = ctx
        self._shown: Hashable = None

    @classmethod
    def wanted(cls, ctx: TabContext) -> bool:
        """Whether this explorer shows the tab (the Examples tab needs a ``dataset=``)."""
        return True

    def key(self, sel: Selection) -> Hashable:
        return sel

    def draw(self, sel: Selection) -> None:
        raise NotImplementedError

    def update(self, sel: Selection) -> None:
        """Draw ``sel`` unless the tab already shows it."""
        key = self.key(sel)
        if key != self._shown:
            self._shown = None  # a failed draw must not look current
            self.draw(sel)
            self._shown = key

    def png(self) -> bytes | None:
        """The PNG the tab shows now: its ``image`` widget's, None when hidden or absent."""
        image = getattr(self, "image", None)
        return image.value if image is not None and image.layout.display != "none" else None

    def layer_picked(self, layer: str) -> None:
        """The user chose ``layer`` (the dropdown or ``ex.layer = ...``), not the explorer."""

    def stop(self) -> None:
        """Stop background work that uses the model (a new image or closing is coming)."""

    def close(self) -> None:
        """Stop background work and free what the tab keeps (the explorer is closing)."""
        self.stop()


class PngCache:
    """Rendered PNGs (with what goes with them) under the memory budget: flipping back is free.

    Entries count their bytes in the process-wide budget, so the pictures of an explorer never
    pile up outside it; an evicted picture is simply rendered again.
    """

    def __init__(self) -> None:
        self._cache = BudgetCache()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        value = self._cache.get(key)
        if value is None:
            value = make()
            self._cache.put(key, value, _nbytes(value))
        return value

    def clear(self) -> None:
        self._cache.clear()


def _nbytes(value: Any) -> int:
    """Bytes of a PNG, a caption, an array (or anything with ``nbytes``), or a tuple of them
    (plus the objects' own overhead)."""
    if isinstance(value, tuple):
        return sum(_nbytes(part) for part in value)
    if isinstance(value, bytes | str):
        return len(value) + 64
    nbytes = getattr(value, "nbytes", None)  # arrays, and results that count their arrays
    if isinstance(nbytes, int):
        return nbytes + 64
    return 64


def page_bounds(sel: Selection, channels: int) -> tuple[int, int]:
    """(start, count) of the page the grid shows."""
    start = min(sel.page * sel.page_size, max(channels - 1, 0))
    return start, min(sel.page_size, channels - start)


def image_widget(lang: str = "en") -> Picture:
    """A PNG at its own size, shrunk to the output width instead of overflowing it.

    A :class:`Picture` (hover tooltip in ``lang``; ``widgets._picking.connect`` makes its clicks
    select). ``align_self`` keeps the flex column from stretching a small picture to full width.
    """
    layout = w.Layout(max_width="100%", height="auto", align_self="flex-start")
    return Picture(lang=lang, layout=layout)


def caption(text: str) -> str:
    return f"<div style='font-family:monospace;font-size:12px'>{html.escape(text)}</div>"


def note(text: str) -> str:
    """A plain message shown where a picture would be."""
    return f"<div style='padding:8px;color:#555'>{html.escape(text)}</div>"


class PictureTab(Tab):
    """A tab that shows one picture with a caption and a message line (Feature maps, Kernels).

    ``parts`` orders the three widgets top to bottom by name.
    """

    parts: tuple[str, ...] = ("caption", "message", "image")

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self.image = image_widget(ctx.lang)
        self.caption = w.HTML()
        self.message = w.HTML()
        self.widget = w.VBox([getattr(self, part) for part in self.parts])

    def _show(
        self, png: bytes | None, text: str, message: str, tiles: Tiles | None = None,
        values: Callable[[], Any] | None = None,
    ) -> None:  # fmt: skip
        """Show ``png`` (None hides the picture) with its caption and a message line.

        ``tiles`` and ``values`` say what is drawn where (see :meth:`Picture.show`).
        """
        if png is not None:
            self.image.show(png, tiles, values)
        self.image.layout.display = None if png is not None else "none"
        self.caption.value = caption(text) if text else ""
        self.message.value = note(message) if message else ""


class JobTab(Tab):
    """A tab whose long work runs in a :class:`JobRunner`, with the row that drives it.

    The tab owns ``run_button``, ``cancel_button``, ``progress`` and ``status`` (built by
    :meth:`_job_row`), greys its controls out while the job runs, and shows the job's end: the
    subclass's :meth:`_show_result`, or a red failure line worded by ``failed_key``. In
    ``__init__`` a subclass sets ``self._pngs`` (its pictures) and places the row that
    :meth:`_job_row` builds (it also sets ``self.runner``); it implements :meth:`run` (which
    hands the work to :meth:`_submit`), :meth:`_controls` and :meth:`_show_result`.
    """

    failed_key = ""  # string key of the failure line; ``{error}`` is the error's type and text
    runner: JobRunner
    _pngs: PngCache

    def _job_row(self, runner: JobRunner, run: str, icon: str, progress: str) -> w.HBox:
        """Build the Run (labelled ``run``) / Cancel / progress row and the status line.

        Each part has the CSS class ``featviz-<tab name>-<part>`` (``run``, ``cancel``,
        ``progress``, ``status``) for browser tests and styling.
        """
        self.runner = runner
        self.run_button = w.Button(description=run, button_style="primary", icon=icon)
        self.cancel_button = w.Button(description=self.ctx.text("cancel"), icon="stop",
                                      disabled=True)  # fmt: skip
        self.progress = w.IntProgress(value=0, min=0, max=1, description=progress)
        self.status = w.HTML()
        for part in ("run_button", "cancel_button", "progress", "status"):
            getattr(self, part).add_class(f"featviz-{self.name}-{part.split('_')[0]}")
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())
        return w.HBox([self.run_button, self.cancel_button, self.progress])

    @property
    def running(self) -> bool:
        """Whether the tab's job is running now."""
        return self.runner.running

    def run(self) -> None:
        """Start the job the controls describe (Run does this)."""
        raise NotImplementedError

    def cancel(self) -> None:
        """Ask the running job to stop (honoured at its next step or batch)."""
        self.runner.cancel()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run ends; return its result, or raise the error it hit."""
        return self.runner.wait(timeout)

    def _controls(self) -> list[w.ValueWidget]:
        """The tab's own controls: disabled while its job runs."""
        return []

    def _submit(self, job: Hashable, work: Work, on_progress: Progress) -> bool:
        """Run ``work`` for ``job`` in the runner, controls off until it ends.

        False when the runner's cache answered (nothing started; the controls are back on and
        ``self.runner.result`` holds the result).
        """
        self._set_running(True)  # before the thread starts: a job that fails at once re-enables
        try:
            started = self.runner.submit(
                job, work, owner=self.ctx.data.owner, on_progress=on_progress,
                on_finish=self._finished,
            )  # fmt: skip
        except BaseException:
            self._set_running(False)
            raise
        if not started:
            self._set_running(False)
        return started

    def _set_running(self, running: bool) -> None:
        for control in [*self._controls(), self.run_button]:
            control.disabled = running
        self.cancel_button.disabled = not running

    def _finished(self, job: Hashable, result: Any, error: BaseException | None) -> None:
        """The worker's last act: show the result or the failure, then free the controls."""
        try:
            if error is None:
                self._show_result(job, result)
            else:
                self._show_failure(job, error)
        finally:
            self._set_running(False)
            self._ended(error)

    def _show_result(self, job: Hashable, result: Any) -> None:
        raise NotImplementedError

    def _show_failure(self, job: Hashable, error: BaseException) -> None:
        self.status.value = self._failure(error)

    def _failure(self, error: BaseException) -> str:
        """The red status line for a job that raised ``error`` (its type and the library's text)."""
        message = self.ctx.text(self.failed_key, error=f"{type(error).__name__}: {error}")
        return f"<div style='color:#b00020'>{html.escape(message)}</div>"

    def _ended(self, error: BaseException | None) -> None:
        """Called last when a job ends (``error`` None on success), the controls back on."""

    def stop(self) -> None:
        """Cancel a run and wait for its thread to end (its error, if any, stays in the tab)."""
        self.runner.stop()

    def close(self) -> None:
        self.runner.close()
        self._pngs.clear()
