"""Examples tab: the dataset images that excite the selected channel most (``dataset=``).

"Find examples" hands :func:`featviz_widgets.examples.top_examples` to the tab's
:class:`JobRunner` (a worker thread): the progress bar and images per second follow each batch,
Cancel stops after the current batch (the partial result is shown and saved, and the next run
resumes it), and the explorer stays usable (each batch holds the model lock for one forward). One
pass ranks the selected layer, or every layer the Layer dropdown lists.

Results are saved on disk by fingerprint (:mod:`featviz_widgets.examples.cache`): a new explorer
on the same model, dataset and preprocessing shows them without running anything.

- A channel: its top-k images by mean (or max) with the channel's map over each, and below them
  the receptive-field crops around each image's strongest spot; scores in the captions.
- The grid: the best image of each channel (by max), cropped around its strongest spot, in the
  Feature maps tab's order and page.

The package's other modules: ``store`` (the dataset, its saved results, maps and crop sizes) and
``pictures`` (the rows and the grid).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import ipywidgets as w
import numpy as np

from featviz_widgets.examples import Examples
from featviz_widgets.widgets._picking import connect, sheet_tiles
from featviz_widgets.widgets._picture import Tiles
from featviz_widgets.widgets.jobs import JobRunner
from featviz_widgets.widgets.tabs._base import (
    JobTab,
    PngCache,
    Selection,
    TabContext,
    caption,
    image_widget,
    note,
    page_bounds,
)
from featviz_widgets.widgets.tabs.examples.pictures import (
    GRID_TILE,
    ROW,
    ROW_PAD,
    THUMB,
    crop_row,
    grid_picture,
    top_row,
)
from featviz_widgets.widgets.tabs.examples.store import DatasetExamples

RANKS = ("mean", "max")  # rank images by the channel's mean, or by its max
SCOPES = ("layer", "listed")  # the selected layer, or every layer the Layer dropdown lists


class ExamplesTab(JobTab):
    """Dataset examples of the selected layer: run on demand, cached on disk."""

    name = "examples"
    title = "Examples"
    order = 50
    failed_key = "ex_failed"

    @classmethod
    def wanted(cls, ctx: TabContext) -> bool:
        return ctx.dataset is not None

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self.store = DatasetExamples(ctx.data, ctx.dataset, ctx.lang)
        self.batch_size: int | None = None  # None: as many images as BATCH_BYTES allows (<= 32)
        self.shown_channels: list[int] = []  # the channels the picture shows, in its order
        self._found: dict[tuple[str, int], Examples] = {}
        self._looked: set[tuple[str, int, tuple[str, ...]]] = set()  # disk lookups already made
        self._pngs = PngCache()
        self._version = 0
        self._clock: tuple[float, int | None, float] = (0.0, None, 0.0)
        self._build()

    def _build(self) -> None:
        say = self.ctx.text
        self.rank = w.ToggleButtons(options=[(say(f"rank_{r}"), r) for r in RANKS], value="mean")
        self.scope = w.ToggleButtons(options=[(say(f"scope_{s}"), s) for s in SCOPES],
                                     value="layer")  # fmt: skip
        self.k = w.IntSlider(value=9, min=1, max=16, description=say("top_k"),
                             continuous_update=False)  # fmt: skip
        row = self._job_row(JobRunner("Examples"), say("find_examples"), "search", say("images"))
        self.progress.max = max(1, len(self.store))
        self.caption = w.HTML()
        # a click on a grid tile opens its channel; Escape / double-click go back to the grid
        self.image = connect(image_widget(self.ctx.lang), self.ctx)
        self.crops_caption = w.HTML()
        self.crops = connect(image_widget(self.ctx.lang), self.ctx)
        for control in (self.rank, self.k):
            control.observe(lambda _: self.ctx.request(), "value")
        self.widget = w.VBox(
            [
                w.HBox([_label(say("rank")), self.rank, self.k]),
                w.HBox([_label(say("scope")), self.scope]),
                row,
                self.status,
                self.caption,
                self.image,
                self.crops_caption,
                self.crops,
            ]
        )
        self._show(None, None)

    # -- Tab protocol ----------------------------------------------------------------------
    def key(self, sel: Selection) -> tuple:
        return (sel, self.rank.value, int(self.k.value), self._version)

    def draw(self, sel: Selection) -> None:
        found = self.result(sel.layer)
        if found is None:
            self.shown_channels = []
            self._show(None, None)
            if not self.running:
                self.status.value = caption(
                    self.ctx.text("ex_press", count=len(self.store), layer=sel.layer)
                )
            return
        if not self.running:
            self.status.value = caption(self._describe(found))
        channels = found.indices[sel.layer].shape[0]
        view_channels = self.ctx.data.view(sel.layer).channels
        if channels != view_channels:
            raise ValueError(
                self.ctx.text("ex_mismatch", layer=sel.layer, saved=channels, shown=view_channels)
            )
        if isinstance(sel.channel, int):
            self._draw_channel(sel, found, sel.channel)
        else:
            self._draw_grid(sel, found)

    # -- results ---------------------------------------------------------------------------
    def result(self, layer: str) -> Examples | None:
        """The result shown for ``layer`` at the current k: from this session, else from disk."""
        k = int(self.k.value)
        found = self._found.get((layer, k))
        if found is not None:
            return found
        listed = tuple(self._listed())
        for layers in ((layer,), listed):
            if layer not in layers or (layer, k, layers) in self._looked:
                continue
            self._looked.add((layer, k, layers))
            with self.ctx.data.using():  # the weights are read under the model's lock
                saved = self.store.saved(layers, k)
            if saved is not None:
                self._keep(saved, k)
                return saved
        return None

    def _keep(self, found: Examples, k: int) -> None:
        for layer in found.layers:
            self._found[(layer, k)] = found

    def _listed(self) -> list[str]:
        return list(self.ctx.listed()) if self.ctx.listed is not None else []

    def _describe(self, found: Examples) -> str:
        say = self.ctx.text
        skipped = say("ex_skipped", count=len(found.skipped)) if found.skipped else ""
        if found.partial:
            return say("ex_partial", scored=found.scored, total=len(found.image_ids),
                       skipped=skipped)  # fmt: skip
        return say("ex_done", scored=found.scored, skipped=skipped, layers=", ".join(found.layers))

    # -- running ---------------------------------------------------------------------------
    def run(self) -> None:
        """Rank the dataset for the selected layer (or all listed layers) in a worker thread."""
        if self.running:
            return
        sel = self.ctx.selection()
        layers = [sel.layer] if self.scope.value == "layer" else self._listed() or [sel.layer]
        k = int(self.k.value)
        batch = self.batch_size or self.store.batch_size(layers)
        self.progress.value, self.progress.max = 0, max(1, len(self.store))
        self._clock = (time.perf_counter(), None, 0.0)
        say = self.ctx.text
        what = sel.layer if len(layers) == 1 else say("ex_layers", count=len(layers))
        self.status.value = caption(say("ex_running", count=len(self.store), what=what))
        self._submit(
            (tuple(layers), k),
            lambda cancel, progress: self._find(layers, k, batch, cancel, progress),
            self._on_progress,
        )

    def _find(self, layers: list[str], k: int, batch: int, cancel: threading.Event,
              progress: Any) -> Examples:  # fmt: skip
        return self.store.find(layers, k, batch_size=batch, progress=progress, cancel=cancel)

    def _on_progress(self, done: int, total: int | None) -> None:
        started, first, first_at = self._clock
        now = time.perf_counter()
        if first is None:  # the first batch also paid for the fingerprint: rate from here on
            self._clock = (started, done, now)
            rate = done / max(now - started, 1e-9)
        else:
            rate = (done - first) / max(now - first_at, 1e-9) if done > first else 0.0
        self.progress.value = min(done, self.progress.max)
        line = (
            self.ctx.text("ex_rate_total", done=done, total=total, rate=rate)
            if total
            else self.ctx.text("ex_rate", done=done, rate=rate)
        )
        self.status.value = caption(line)

    def _show_result(self, job: Any, result: Examples) -> None:
        self._keep(result, job[1])
        self.progress.value = min(result.scored + len(result.skipped), self.progress.max)
        seconds = time.perf_counter() - self._clock[0]
        line = self.ctx.text("ex_elapsed", what=self._describe(result), seconds=seconds)
        self.status.value = caption(line)

    def _ended(self, error: BaseException | None) -> None:
        """Redraw with a new result (a failure keeps its status line until the next draw)."""
        self._version += 1
        if error is not None:
            return
        # A failing redraw (a model busy past the wait) is shown in the explorer's message line.
        with contextlib.suppress(Exception):
            self.ctx.request()

    def _controls(self) -> list[w.ValueWidget]:
        return [self.scope, self.k]

    # -- pictures --------------------------------------------------------------------------
    def _draw_channel(self, sel: Selection, found: Examples, channel: int) -> None:
        by = self.rank.value
        cmap = "jet" if sel.colormap == "gray" else sel.colormap
        ranked = (found.indices if by == "mean" else found.max_indices)[sel.layer][channel]
        scores = (found.scores if by == "mean" else found.max_scores)[sel.layer][channel]
        positions = [int(p) for p in ranked if p >= 0]
        self.shown_channels = [channel]
        if not positions:
            self._show(None, None)
            self.caption.value = note(self.ctx.text("ex_none_ranked"))
            return
        ident = (found.fingerprint, found.scored, sel.layer, channel)
        top = self._pngs.get(("top", *ident, by, cmap), lambda: top_row(
            self.store, sel.layer, channel, positions, cmap))  # fmt: skip
        crops, side = self._pngs.get(("crops", *ident), lambda: crop_row(
            self.store, sel.layer, found, channel))  # fmt: skip
        named = ", ".join(
            f"{self.store.label(found, p)} {s:.3g}" for p, s in zip(positions, scores, strict=False)
        )
        self.caption.value = caption(self.ctx.text(
            "ex_channel", layer=sel.layer, channel=channel, count=len(positions),
            scored=found.scored, by=self.ctx.text(f"stat_{by}"), named=named,
        ))  # fmt: skip
        best = [(int(p), float(s)) for p, s in zip(found.max_indices[sel.layer][channel],
                                                   found.max_scores[sel.layer][channel],
                                                   strict=True) if p >= 0]  # fmt: skip
        named = ", ".join(f"{self.store.label(found, p)} {s:.3g}" for p, s in best)
        self.crops_caption.value = caption(
            self.ctx.text("ex_crops", height=side[0], width=side[1], named=named)
        )
        tiles = sheet_tiles(len(positions), (THUMB, THUMB), ROW, ROW_PAD, [channel] * len(positions),
                            click=False)  # fmt: skip
        self._show(top, crops, tiles)

    def _draw_grid(self, sel: Selection, found: Examples) -> None:
        channels = self.grid_channels(sel, found.indices[sel.layer].shape[0])
        self.shown_channels = channels
        key = ("grid", found.fingerprint, found.scored, sel.layer, tuple(channels), sel.columns)
        png, side = self._pngs.get(key, lambda: grid_picture(
            self.store, sel.layer, found, channels, sel.columns))  # fmt: skip
        start, count = page_bounds(sel, found.indices[sel.layer].shape[0])
        order = self.ctx.text("maps_strongest") if sel.order == "strongest" else ""
        self.caption.value = caption(self.ctx.text(
            "ex_grid", layer=sel.layer, height=side[0], width=side[1], start=start + 1,
            end=start + count, total=found.indices[sel.layer].shape[0], order=order,
        ))  # fmt: skip
        tiles = sheet_tiles(len(channels), (GRID_TILE, GRID_TILE), sel.columns, ROW_PAD, channels)
        self._show(png, None, tiles)

    def grid_channels(self, sel: Selection, channels: int) -> list[int]:
        """The channels of the grid page in the Feature maps tab's order (index or strongest)."""
        order = (self.ctx.data.stats(sel.layer).strongest if sel.order == "strongest"
                 else np.arange(channels))  # fmt: skip
        start, count = page_bounds(sel, channels)
        return [int(c) for c in order[start : start + count]]

    def _show(self, top: bytes | None, crops: bytes | None, tiles: Tiles | None = None) -> None:
        """Show the top picture (with its ``tiles``) and the crops; None hides one."""
        for image, caption_widget, png in ((self.image, self.caption, top),
                                           (self.crops, self.crops_caption, crops)):  # fmt: skip
            if png is not None:
                image.show(png, tiles if image is self.image else None)
            image.layout.display = None if png is not None else "none"
            if png is None:
                caption_widget.value = ""


def _label(text: str) -> w.Label:
    """An inline label (a ToggleButtons description would wrap above its buttons)."""
    return w.Label(text, layout=w.Layout(width="60px"))
