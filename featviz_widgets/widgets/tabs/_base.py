"""What every explorer tab shares: its context, the redraw-only-on-change rule, small helpers."""

from __future__ import annotations

import html
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as w

from featviz_widgets.engine import BudgetCache
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._picture import Picture, Tiles
from featviz_widgets.widgets.strings import text


@dataclass(frozen=True)
class Selection:
    """The explorer's controls as plain values: everything a tab needs to draw.

    ``channel`` is ``"grid"``, ``"sum"`` or a channel index; ``page`` counts from 0. ``frame``
    (from 0) and ``time_view`` (``"frame"``: that frame; ``"mean"`` / ``"sum"`` over time) matter
    for a video layer only (``LayerView.frames`` is ``[C, T, H, W]``); elsewhere they stay
    ``0`` / ``"frame"`` unless set.
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

    Subclasses set ``name`` (the registry key, e.g. ``"maps"``) and ``title``, build
    ``self.widget`` and implement ``key`` (what the picture depends on) and ``draw``.
    """

    name = ""
    title = ""
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
    """Bytes of a PNG, a caption, or a tuple of them (plus the objects' own overhead)."""
    if isinstance(value, tuple):
        return sum(_nbytes(part) for part in value)
    if isinstance(value, bytes | str):
        return len(value) + 64
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
    """A tab whose long work runs in ``self.runner`` (a JobRunner), its pictures in ``self._pngs``.

    Subclasses set both in ``__init__``; stopping and closing are the same for every such tab.
    """

    runner: Any  # JobRunner
    _pngs: PngCache

    @property
    def running(self) -> bool:
        """Whether the tab's job is running now."""
        return self.runner.running

    def stop(self) -> None:
        """Cancel a run and wait for its thread to end (its error, if any, stays in the tab)."""
        self.runner.stop()

    def close(self) -> None:
        self.runner.close()
        self._pngs.clear()
