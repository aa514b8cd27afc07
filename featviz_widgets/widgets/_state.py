"""The explorer's selection as traitlets: the traits, their validation, the one reaction to a change.

``layer``, ``channel``, ``columns``, ``page``, ``normalization``, ``colormap``, ``order``,
``filter``, ``frame``, ``time_view`` and ``tab`` are traitlets (Python-side only, never synced to
the browser), so ``ex.observe(f, "channel")`` and ``ipywidgets.link`` work on them. A proposed
value is checked in its ``@validate`` handler: a bad one is shown in the widget and raised as the
ValueError or TypeError the check builds (traitlets passes it through unchanged), and the trait
keeps its value. Every accepted change goes through ``_on_selection``: it lists layers or refills
the channel options when needed, moves the control (``_controls.py``) and renders once.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as w
import traitlets

from featviz_widgets import render
from featviz_widgets.widgets._controls import ControlPanel
from featviz_widgets.widgets._frames import TIME_VIEWS
from featviz_widgets.widgets._options import (
    FILTERS,
    GRID,
    MAX_COLUMNS,
    ORDERS,
    bounded_int_error,
    channel_error,
    channel_options,
    choice_error,
    filter_for,
    frame_count,
    frame_error,
    keys_for,
    layer_label,
    page_count,
)
from featviz_widgets.widgets.strings import error_line, hint, reworded, widget_error

# Every trait of the selection, in the order ``_select`` applies them (the layer first).
SELECTION = ("layer", "filter", "channel", "columns", "page", "normalization", "colormap",
             "order", "frame", "time_view", "tab")  # fmt: skip


class SelectionState(ControlPanel, w.VBox):
    """The selection traits of :class:`~featviz_widgets.widgets.LayerExplorer`, checked and applied.

    The explorer provides ``_data``, ``_keys`` (the layers listed), ``_tabs``, ``_titles`` and
    ``_tab_names`` (every accepted spelling of a tab -> its title) and ``_render``.
    """

    layer = traitlets.Any(None, allow_none=True, help="The layer shown (a capture key).")
    channel = traitlets.Any(None, allow_none=True,
                            help='The channel: an index, "sum", or None for the grid.')  # fmt: skip
    columns = traitlets.Any(8, help="Tiles per row of the grid.")
    page = traitlets.Any(1, help="Grid page (from 1) of a layer wider than one page.")
    normalization = traitlets.Any("channel", help="One of render.NORMALIZATIONS.")
    colormap = traitlets.Any("viridis", help="A matplotlib colormap name.")
    order = traitlets.Any("index", help='Channel order: "index" or "strongest".')
    filter = traitlets.Any(None, allow_none=True,
                           help='Layers listed: "conv", "all" (modules) or "nodes".')  # fmt: skip
    frame = traitlets.Any(0, help="Frame (from 0) of a video layer's [C, T, H, W] output.")
    time_view = traitlets.Any("frame", help='A video layer: "frame", or "mean" / "sum" over time.')
    tab = traitlets.Any(None, allow_none=True, help='The visible tab\'s title, e.g. "Kernels".')

    # -- validation: each trait checks a proposed value; the trait keeps its value on failure --
    @traitlets.validate("layer")
    def _valid_layer(self, proposal: traitlets.Bunch) -> str:
        name = proposal.value
        with self._showing_errors():
            listed = name in self._keys
            lang, data = self._lang, self._data
            keys = self._keys if listed else keys_for(data, filter_for(data, name, lang), lang)
            # Captured (or refused: a busy model) before anything moves; a forward that runs
            # anyway keeps the other listed layers too, so the next changes draw from memory.
            self._data.entries([name], prefetch=keys)
        return name

    @traitlets.validate("filter")
    def _valid_filter(self, proposal: traitlets.Bunch) -> str:
        kind = proposal.value
        with self._showing_errors():
            _raise(choice_error("filter", kind, FILTERS, self._lang))
            keys = keys_for(self._data, kind, self._lang)  # an untraceable model: no graph nodes
            self._data.stats(self.layer if self.layer in keys else keys[0])
        return kind

    @traitlets.validate("channel")
    def _valid_channel(self, proposal: traitlets.Bunch) -> int | str | None:
        value = proposal.value
        with self._showing_errors():  # the layer may need capturing again (or the model is busy)
            channels = self._data.view(self.layer).channels
            _raise(channel_error(value, channels, self.layer, self._lang))
        return None if value == GRID else value

    @traitlets.validate("columns", "page", "frame")
    def _valid_int(self, proposal: traitlets.Bunch) -> int:
        name, value = proposal.trait.name, proposal.value
        if name == "frame":  # against this layer's frames: T of its [C, T, H, W] output
            error = frame_error(value, self._frames, self.layer, self._lang)
        else:
            high = MAX_COLUMNS if name == "columns" else self._pages
            error = bounded_int_error(name, value, 1, high, self._lang)
        with self._showing_errors():
            _raise(error)
        return value

    @traitlets.validate("normalization", "order", "time_view")
    def _valid_choice(self, proposal: traitlets.Bunch) -> str:
        name, value = proposal.trait.name, proposal.value
        choices = {"normalization": render.NORMALIZATIONS, "order": ORDERS, "time_view": TIME_VIEWS}
        with self._showing_errors():
            _raise(choice_error(name, value, choices[name], self._lang))
        return value

    @traitlets.validate("colormap")
    def _valid_colormap(self, proposal: traitlets.Bunch) -> str:
        name = proposal.value
        with self._showing_errors():
            if name not in self._cmap.options:  # any registered matplotlib name is accepted
                try:
                    render.colormap_lut(name)
                except (ValueError, TypeError) as error:  # render's message, said in the language
                    raise reworded(self._lang, error) from None
        return name

    @traitlets.validate("tab")
    def _valid_tab(self, proposal: traitlets.Bunch) -> str:
        value = proposal.value
        with self._showing_errors():
            if not isinstance(value, str) or value not in self._tab_names:
                close = hint(self._lang, str(value), list(self._tab_names))
                raise widget_error(self._lang, "err_choice", name="tab", value=value,
                                   choices=tuple(self._titles), hint=close)  # fmt: skip
        return self._tab_names[value]

    # -- the one reaction to a change, and the one render path -----------------------------
    @traitlets.observe(*SELECTION)
    def _on_selection(self, change: dict) -> None:
        """Whatever moved the selection: list, refill the options, move the control, render once."""
        name = change["name"]
        with self._batch():
            if name == "filter":
                self._relist()
            elif name == "layer":
                self._on_layer(change["new"])
            elif name == "order":
                self._fill_channels()
            elif name == "time_view":  # a mean or sum over time has no frame to pick
                self._frame.disabled = change["new"] != "frame"
            elif name == "colormap" and change["new"] not in self._cmap.options:
                self._move("colormap", options=[*self._cmap.options, change["new"]])
            self._move(name)

    def _on_layer(self, layer: str) -> None:
        if layer not in self._keys:
            # Listed under the filter that has it, as the dropdown then shows.
            self.filter = filter_for(self._data, layer, self._lang)
        if not self._auto:  # the user's pick (the dropdown, ex.layer, a link), not the explorer's
            for tab in self._tabs.values():
                tab.layer_picked(layer)
        self._fill_channels()

    @contextmanager
    def _batch(self) -> Iterator[None]:
        """Update several traits and controls, then render once (never once per change)."""
        self._hold += 1
        try:
            yield
        finally:
            self._hold -= 1
        self._render()

    def _select(self, **changes: Any) -> None:
        """Move the selection as the controls would (``layer`` first, then the rest, one render)."""
        unknown = [name for name in changes if name not in SELECTION]
        if unknown:
            raise ValueError(f"unknown selection {unknown}; choose among {SELECTION}")
        with self._batch():
            for name in SELECTION:
                if name in changes:
                    setattr(self, name, changes[name])

    @contextmanager
    def _showing_errors(self, lead: str = "error") -> Iterator[None]:
        """Show an error of the block in the widget, then let it propagate to the caller.

        ``lead`` is the line that comes before an error of the library in a language other than
        English (``strings.error_line``): "error", "error_layer" or "error_image".
        """
        try:
            yield
        except Exception as error:
            self._show_error(error, lead)
            raise

    def _show_error(self, error: BaseException, lead: str = "error") -> None:
        self._error = error_line(self._lang, error, lead)
        self._message.value = (
            "<div style='color:#b00020;border-left:3px solid #b00020;padding:4px 8px'>"
            f"{html.escape(self._error)}</div>"
        )

    def _clear_error(self) -> None:
        self._error = None
        self._message.value = ""

    def _fail(self, error: Exception, lead: str = "error") -> None:
        """Show a programmatic-call error in the widget, then raise it."""
        self._show_error(error, lead)
        raise error

    # -- option lists ----------------------------------------------------------------------
    def _relist(self) -> None:
        """List the layers of the filter; keep the layer shown when listed, else show the first."""
        with self._showing_errors():
            keys = keys_for(self._data, self.filter, self._lang)
        self._keys = keys
        options = [(layer_label(k, self._data.shape(k)), k) for k in keys]
        if self.layer in keys:
            self._move("layer", options=options)
            self._fill_channels()  # a new image changes the means and the shapes
            return
        with self._quietly():
            self._layer.options = options
        self._auto += 1  # the explorer's move, not the user's pick
        try:
            self.layer = keys[0]
        finally:
            self._auto -= 1

    def _fill_channels(self) -> None:
        """Channel options of the layer in the chosen order; keep channel, page and frame if valid."""
        layer = self.layer
        with self._showing_errors("error_layer"):
            entry = self._data.entries([layer], prefetch=self._keys)[layer]
        view, stats = entry.view, entry.stats
        if channel_error(self.channel, view.channels, layer) is not None:
            self.channel = None
        self._move("channel", options=channel_options(view, stats, self.order, self._lang))
        self._pages, self._frames = page_count(view), frame_count(view)
        self.page = min(self.page, self._pages)
        self._move("page", max=self._pages)
        self._page.layout.display = None if self._pages > 1 else "none"
        self.frame = min(self.frame, self._frames - 1)  # a layer with fewer frames: its last
        self._move("frame", max=self._frames - 1)
        self._time_box.layout.display = None if view.frames is not None else "none"


def _raise(error: Exception | None) -> None:
    """Raise ``error`` unless it is None (the value checks of ``_options`` return, never raise)."""
    if error is not None:
        raise error
