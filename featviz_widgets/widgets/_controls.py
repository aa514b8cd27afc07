"""The explorer's control widgets: built, labelled and laid out here, wired in ``explorer.py``."""

from __future__ import annotations

import ipywidgets as w

from featviz_widgets import render
from featviz_widgets.widgets._mirror import MAX_COLUMNS, ORDERS

COLORMAPS = ("viridis", "gray", "magma", "inferno", "plasma", "cividis", "jet", "turbo", "RdBu_r")
FILTERS = (("convolutions", "conv"), ("all modules", "all"), ("graph nodes", "nodes"))
FILTER_TIPS = ["convolution outputs only", "every module call", "torch.fx nodes, e.g. layer1.0.add"]
ORDER_TIPS = ["channel index order", "highest mean activation first"]


class ControlPanel:
    """Builds the controls as ``_filter``, ``_layer``, ``_channel``... on the host widget.

    The host wires them: it provides the observers ``_on_filter``, ``_on_layer``, ``_on_order``,
    ``_on_view`` and ``_on_export``.
    """

    def _build_controls(self) -> None:
        wide = w.Layout(width="460px")
        self._filter = w.ToggleButtons(options=FILTERS, tooltips=FILTER_TIPS)
        self._layer = w.Dropdown(description="Layer", layout=wide)
        self._channel = w.Dropdown(description="Channel", layout=wide)
        self._order = w.ToggleButtons(options=ORDERS, tooltips=ORDER_TIPS)
        self._columns = w.IntSlider(
            value=8, min=1, max=MAX_COLUMNS, description="Grid width", continuous_update=False
        )
        self._page = w.IntSlider(value=1, min=1, max=1, description="Page", continuous_update=False)
        self._norm = w.Dropdown(
            options=render.NORMALIZATIONS, value="channel", description="Normalize"
        )
        self._cmap = w.Dropdown(options=COLORMAPS, value="viridis", description="Colormap")
        self._export = w.Button(description="Export PNG", icon="download")
        self._download = w.HTML()
        self._message = w.HTML()
        self._filter.style.button_width = "110px"
        self._order.style.button_width = "120px"
        self._filter.observe(self._on_filter, "value")
        self._layer.observe(self._on_layer, "value")
        self._order.observe(self._on_order, "value")
        for control in (self._channel, self._columns, self._page, self._norm, self._cmap):
            control.observe(self._on_view, "value")
        self._export.on_click(self._on_export)
        self._mark_controls()

    def _mark_controls(self) -> None:
        """Stable CSS classes (``featviz-layer``...) for browser tests and custom styling."""
        named = {
            "filter": self._filter, "layer": self._layer, "channel": self._channel,
            "order": self._order, "columns": self._columns, "page": self._page,
            "normalization": self._norm, "colormap": self._cmap, "export": self._export,
            "download": self._download, "message": self._message,
        }  # fmt: skip
        for name, control in named.items():
            control.add_class(f"featviz-{name}")

    def _control_box(self) -> w.Widget:
        return w.VBox(
            [
                w.HBox([self._layer, _label("List"), self._filter]),
                w.HBox([self._channel, _label("Sort"), self._order]),
                w.HBox([self._columns, self._page]),
                w.HBox([self._norm, self._cmap, self._export, self._download]),
            ]
        )


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


def _label(text: str) -> w.Label:
    """A short inline label (a ToggleButtons description wraps above its buttons in narrow rows)."""
    return w.Label(text, layout=w.Layout(margin="0 4px 0 12px"))
