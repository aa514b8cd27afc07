"""The explorer's control widgets, and the one mechanism that binds each to an explorer trait.

A control and its trait (``_layer`` and ``ex.layer``, ``_channel`` and ``ex.channel``...) are two
views of one value. A change in the browser sets the trait, which validates it exactly as a Python
assignment does; a trait change moves the control quietly (``_move``: its own observer ignores
the move), so neither side echoes back and every change renders once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import ipywidgets as w

from featviz_widgets import render
from featviz_widgets.widgets._frames import TIME_VIEWS
from featviz_widgets.widgets._options import (
    FILTERS,
    GRID,
    MAX_COLUMNS,
    ORDERS,
)
from featviz_widgets.widgets.strings import text

COLORMAPS = ("viridis", "gray", "magma", "inferno", "plasma", "cividis", "jet", "turbo", "RdBu_r")


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Binding:
    """One control bound to one trait: the control's attribute and the conversions both ways."""

    control: w.Widget
    attr: str = "value"
    to_control: Callable[[Any], Any] = _same
    from_control: Callable[[Any], Any] = _same


class ControlPanel:
    """Builds the controls as ``_filter``, ``_layer``, ``_channel``... and binds them to traits.

    The host provides ``_lang``, the traits named in ``_bindings``, ``_tab_index`` /
    ``_tab_title`` (the tab trait is a title, the Tab widget an index) and ``_on_export``.
    """

    _syncing = 0

    def _build_controls(self) -> None:
        lang, wide = self._lang, w.Layout(width="460px")
        self._filter = w.ToggleButtons(
            options=[(text(lang, f"filter_{kind}"), kind) for kind in FILTERS],
            tooltips=[text(lang, f"tip_{kind}") for kind in FILTERS],
        )
        self._layer = w.Dropdown(description=text(lang, "layer"), layout=wide)
        self._channel = w.Dropdown(description=text(lang, "channel"), layout=wide)
        self._order = w.ToggleButtons(
            options=[(text(lang, f"order_{order}"), order) for order in ORDERS],
            tooltips=[text(lang, f"tip_{order}") for order in ORDERS],
        )
        self._columns = w.IntSlider(value=8, min=1, max=MAX_COLUMNS, continuous_update=False,
                                    description=text(lang, "grid_width"))  # fmt: skip
        self._page = w.IntSlider(value=1, min=1, max=1, continuous_update=False,
                                 description=text(lang, "page"))  # fmt: skip
        self._norm = w.Dropdown(
            options=[(text(lang, f"norm_{n}"), n) for n in render.NORMALIZATIONS],
            value="channel", description=text(lang, "normalize"),
        )  # fmt: skip
        self._cmap = w.Dropdown(options=COLORMAPS, value="viridis",
                                description=text(lang, "colormap"))  # fmt: skip
        self._export = w.Button(description=text(lang, "export_png"), icon="download")
        self._download = w.HTML()
        self._message = w.HTML()
        self._filter.style.button_width = "110px"
        self._order.style.button_width = "120px"
        self._export.on_click(self._on_export)
        self._build_frame_controls()

    def _build_frame_controls(self) -> None:
        """The Frame slider and the time view of a video layer, hidden for every other layer."""
        lang = self._lang
        self._frame = w.IntSlider(value=0, min=0, max=0, continuous_update=False,
                                  description=text(lang, "frame"))  # fmt: skip
        self._time_view = w.ToggleButtons(
            options=[(text(lang, f"time_{view}"), view) for view in TIME_VIEWS],
            tooltips=[text(lang, f"time_{view}_tip") for view in TIME_VIEWS],
        )
        self._time_view.style.button_width = "90px"
        self._time_box = w.HBox([self._frame, _label(text(lang, "time")), self._time_view])
        self._time_box.layout.display = "none"

    def _bind_controls(self, tab: w.Tab) -> None:
        """Bind every control to its trait (one observer each, all through ``_from_control``)."""
        self._bindings = {
            "filter": Binding(self._filter),
            "layer": Binding(self._layer),
            "channel": Binding(self._channel, to_control=_to_channel, from_control=_from_channel),
            "order": Binding(self._order),
            "columns": Binding(self._columns),
            "page": Binding(self._page),
            "normalization": Binding(self._norm),
            "colormap": Binding(self._cmap),
            "frame": Binding(self._frame),
            "time_view": Binding(self._time_view),
            "tab": Binding(tab, "selected_index", self._tab_index, self._tab_title),
        }
        for name, binding in self._bindings.items():
            binding.control.observe(partial(self._from_control, name), binding.attr)
        self._mark_controls()

    def _from_control(self, name: str, change: dict) -> None:
        """A control moved (a click in the browser): set the trait, validated like Python's."""
        if self._syncing:
            return
        try:
            setattr(self, name, self._bindings[name].from_control(change["new"]))
        except Exception:
            self._move(name)  # refused (a busy model, a failed listing): the control goes back
            raise

    def _move(self, name: str, **control_traits: Any) -> None:
        """Show trait ``name`` on its control without re-entering the control's observer.

        ``control_traits`` (``options``, ``max``...) are set first: a new option list moves a
        Dropdown to its first entry, and only then does the control take the trait's value.
        """
        binding = self._bindings[name]
        with self._quietly():
            for attr, value in control_traits.items():
                setattr(binding.control, attr, value)
            value = binding.to_control(getattr(self, name))
            if getattr(binding.control, binding.attr) != value:
                setattr(binding.control, binding.attr, value)

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Move controls inside the block without their observers setting the traits."""
        self._syncing += 1
        try:
            yield
        finally:
            self._syncing -= 1

    def _mark_controls(self) -> None:
        """Stable CSS classes (``featviz-layer``...) for browser tests and custom styling."""
        named = {name: binding.control for name, binding in self._bindings.items()
                 if name != "tab"}  # fmt: skip
        named.update(export=self._export, download=self._download, message=self._message)
        for name, control in named.items():
            control.add_class(f"featviz-{name.replace('_', '-')}")

    def _control_box(self) -> w.Widget:
        lang = self._lang
        return w.VBox(
            [
                w.HBox([self._layer, _label(text(lang, "list")), self._filter]),
                w.HBox([self._channel, _label(text(lang, "sort")), self._order]),
                w.HBox([self._columns, self._page]),
                self._time_box,
                w.HBox([self._norm, self._cmap, self._export, self._download]),
            ]
        )


def _to_channel(channel: int | str | None) -> int | str:
    return GRID if channel is None else channel


def _from_channel(value: int | str) -> int | str | None:
    return None if value == GRID else value


def widget_tree(root: w.Widget) -> list[w.Widget]:
    """``root``, then every widget reachable through its synced traits (children, layout, style)."""
    seen: dict[int, w.Widget] = {}
    stack = [root]
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen[id(widget)] = widget
        for name in widget.keys:
            value = getattr(widget, name)
            items = value if isinstance(value, (list, tuple)) else (value,)
            stack.extend(item for item in items if isinstance(item, w.Widget))
    return list(seen.values())


def _label(label: str) -> w.Label:
    """A short inline label (a ToggleButtons description wraps above its buttons in narrow rows)."""
    return w.Label(label, layout=w.Layout(margin="0 4px 0 12px"))
