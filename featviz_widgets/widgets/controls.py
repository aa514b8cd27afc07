"""The control panel: a view of a :class:`~featviz_widgets.widgets.selection.SelectionModel`.

Each control is bound to one trait of the model (the Layer dropdown to ``layer``, the Tab
widget's ``selected_index`` to ``tab``...). A user change on a control sets the trait, which
checks it exactly as a Python assignment does; a trait change moves the control. A move from the
model detaches the control's own observer while it sets the control, so nothing echoes back.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import ipywidgets as w

from featviz_widgets import render
from featviz_widgets.widgets._frames import TIME_VIEWS
from featviz_widgets.widgets._options import FILTERS, GRID, MAX_COLUMNS, ORDERS
from featviz_widgets.widgets.selection import COLORMAPS, SelectionModel
from featviz_widgets.widgets.strings import error_line, text


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
    """The explorer's controls, bound to a selection model; ``widget`` lays them out.

    Parameters
    ----------
    selection : SelectionModel
        The model the controls show and set.
    tabs : ipywidgets.Tab
        The tab bar, bound to ``selection.tab`` (a title) through ``titles`` (in its order).
    lang : str
        Language of every label and tooltip.
    on_export : callable
        Called with the button when "Export PNG" is clicked.
    """

    def __init__(
        self,
        selection: SelectionModel,
        tabs: w.Tab,
        titles: Sequence[str],
        lang: str,
        on_export: Callable[[Any], None],
    ) -> None:
        self.selection = selection
        self._build(lang)
        self.export.on_click(on_export)
        titles = list(titles)
        self._bindings = {
            "filter": Binding(self.filter),
            "layer": Binding(self.layer),
            "channel": Binding(self.channel, to_control=_to_channel, from_control=_from_channel),
            "order": Binding(self.order),
            "columns": Binding(self.columns),
            "page": Binding(self.page),
            "normalization": Binding(self.normalization),
            "colormap": Binding(self.colormap),
            "frame": Binding(self.frame),
            "time_view": Binding(self.time_view),
            "tab": Binding(tabs, "selected_index", titles.index, lambda i: titles[i or 0]),
        }
        self._handlers = {name: partial(self._from_control, name) for name in self._bindings}
        for name, binding in self._bindings.items():
            binding.control.observe(self._handlers[name], binding.attr)
        selection.observe(self._from_model, list(self._bindings))
        self._mark_controls()
        self.widget = self._layout(lang)

    def _build(self, lang: str) -> None:
        wide = w.Layout(width="460px")
        self.filter = w.ToggleButtons(
            options=[(text(lang, f"filter_{kind}"), kind) for kind in FILTERS],
            tooltips=[text(lang, f"tip_{kind}") for kind in FILTERS],
        )
        self.layer = w.Dropdown(description=text(lang, "layer"), layout=wide)
        self.channel = w.Dropdown(description=text(lang, "channel"), layout=wide)
        self.order = w.ToggleButtons(
            options=[(text(lang, f"order_{order}"), order) for order in ORDERS],
            tooltips=[text(lang, f"tip_{order}") for order in ORDERS],
        )
        self.columns = w.IntSlider(value=8, min=1, max=MAX_COLUMNS, continuous_update=False,
                                   description=text(lang, "grid_width"))  # fmt: skip
        self.page = w.IntSlider(value=1, min=1, max=1, continuous_update=False,
                                description=text(lang, "page"))  # fmt: skip
        self.normalization = w.Dropdown(
            options=[(text(lang, f"norm_{n}"), n) for n in render.NORMALIZATIONS],
            value="channel", description=text(lang, "normalize"),
        )  # fmt: skip
        self.colormap = w.Dropdown(options=COLORMAPS, value="viridis",
                                   description=text(lang, "colormap"))  # fmt: skip
        self.export = w.Button(description=text(lang, "export_png"), icon="download")
        self.download = w.HTML()
        self.filter.style.button_width = "110px"
        self.order.style.button_width = "120px"
        # The Frame slider and the time view of a video layer, hidden for every other layer.
        self.frame = w.IntSlider(value=0, min=0, max=0, continuous_update=False,
                                 description=text(lang, "frame"))  # fmt: skip
        self.time_view = w.ToggleButtons(
            options=[(text(lang, f"time_{view}"), view) for view in TIME_VIEWS],
            tooltips=[text(lang, f"time_{view}_tip") for view in TIME_VIEWS],
        )
        self.time_view.style.button_width = "90px"
        self.time_box = w.HBox([self.frame, _label(text(lang, "time")), self.time_view])
        self.time_box.layout.display = "none"

    def binding(self, name: str) -> Binding:
        """The control bound to trait ``name`` and how values convert between them."""
        return self._bindings[name]

    # -- control -> model, model -> control ------------------------------------------------
    def _from_control(self, name: str, change: dict) -> None:
        """A control moved (a click in the browser): set the trait, checked as Python's is."""
        try:
            setattr(self.selection, name, self._bindings[name].from_control(change["new"]))
        except Exception:
            self.show(name)  # refused: the control goes back to the trait's value
            raise

    def _from_model(self, change: dict) -> None:
        name, new = change["name"], change["new"]
        if name == "colormap" and new not in self.colormap.options:
            self.show(name, options=[*self.colormap.options, new])
            return
        if name == "time_view":  # a mean or sum over time has no frame to pick
            self.frame.disabled = new != "frame"
        self.show(name)

    def show(self, name: str, **control_traits: Any) -> None:
        """Show trait ``name`` on its control, setting ``control_traits`` (``options``, ``max``)
        first; the control's observer is detached meanwhile, so the move sets no trait.

        A Dropdown given new options moves to the first one; it takes the trait's value only
        when the value is among them (otherwise the trait is about to move too).
        """
        binding, handler = self._bindings[name], self._handlers[name]
        binding.control.unobserve(handler, binding.attr)
        try:
            for attr, value in control_traits.items():
                setattr(binding.control, attr, value)
            value = binding.to_control(getattr(self.selection, name))
            options = getattr(binding.control, "options", None)
            listed = options is None or value in [_value_of(option) for option in options]
            if listed and getattr(binding.control, binding.attr) != value:
                setattr(binding.control, binding.attr, value)
        finally:
            binding.control.observe(handler, binding.attr)

    def show_range(self, name: str, count: int) -> None:
        """Page or Frame: ``count`` pages (from 1) or frames (from 0); hidden when there is one
        page, shown (the time row) for a video layer (``count`` frames)."""
        if name == "page":
            self.show("page", max=count)
            self.page.layout.display = None if count > 1 else "none"
        else:
            self.show("frame", max=count - 1)

    def show_time(self, video: bool) -> None:
        """Show the Frame slider and the time view for a video layer only."""
        self.time_box.layout.display = None if video else "none"

    # -- layout ----------------------------------------------------------------------------
    def _mark_controls(self) -> None:
        """Stable CSS classes (``featviz-layer``...) for browser tests and custom styling."""
        named = {name: binding.control for name, binding in self._bindings.items()
                 if name != "tab"}  # fmt: skip
        named.update(export=self.export, download=self.download)
        for name, control in named.items():
            control.add_class(f"featviz-{name.replace('_', '-')}")

    def _layout(self, lang: str) -> w.Widget:
        return w.VBox(
            [
                w.HBox([self.layer, _label(text(lang, "list")), self.filter]),
                w.HBox([self.channel, _label(text(lang, "sort")), self.order]),
                w.HBox([self.columns, self.page]),
                self.time_box,
                w.HBox([self.normalization, self.colormap, self.export, self.download]),
            ]
        )


class MessageLine:
    """The line under the controls that shows the last failed action's error (``widget``)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.error: str | None = None  # the message shown, None when all is well
        self.widget = w.HTML()
        self.widget.add_class("featviz-message")

    @contextmanager
    def showing(self, lead: str = "error") -> Iterator[None]:
        """Show an error of the block, then let it propagate to the caller.

        ``lead`` is the line that comes before an error of the library in a language other than
        English (``strings.error_line``): "error", "error_layer" or "error_image".
        """
        try:
            yield
        except Exception as error:
            self.show(error, lead)
            raise

    def show(self, error: BaseException, lead: str = "error") -> None:
        self.error = error_line(self.lang, error, lead)
        self.widget.value = (
            "<div style='color:#b00020;border-left:3px solid #b00020;padding:4px 8px'>"
            f"{html.escape(self.error)}</div>"
        )

    def clear(self) -> None:
        self.error = None
        self.widget.value = ""


def tab_bar(tabs: Sequence[Any], lang: str) -> tuple[w.Tab, dict[str, str]]:
    """The Tab widget of ``tabs`` with their titles in ``lang``, and every accepted spelling of a
    tab (its title, registry name or title in ``lang``) -> its title."""
    shown = [text(lang, f"tab_{tab.name}") for tab in tabs]
    names: dict[str, str] = {}
    for tab, label in zip(tabs, shown, strict=True):
        names.update({tab.title: tab.title, tab.name: tab.title, label: tab.title})
    bar = w.Tab(children=[tab.widget for tab in tabs], titles=shown)
    bar.add_class("featviz-tabs")
    for tab in tabs:
        tab.widget.add_class(f"featviz-tab-{tab.title.lower().replace(' ', '-')}")
    return bar, names


def _to_channel(channel: int | str | None) -> int | str:
    return GRID if channel is None else channel


def _from_channel(value: int | str) -> int | str | None:
    return None if value == GRID else value


def _value_of(option: Any) -> Any:
    """The value of a Dropdown option: ``(label, value)`` or a bare value."""
    return option[1] if isinstance(option, tuple) else option


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
