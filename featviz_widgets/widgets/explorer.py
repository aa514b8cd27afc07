"""LayerExplorer: one notebook cell that shows what a CNN sees, built from stock ipywidgets.

The constructor captures every layer in one forward and builds the controls; every control change
goes through ``_render``, which redraws only the visible tab and only if its inputs changed, from
the cached activations (no forward per click). Errors are shown in the widget and raised.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ipywidgets as w
import torch
from torch import nn

from featviz_widgets import render
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._mirror import MAX_COLUMNS, ORDERS, ControlMirror
from featviz_widgets.widgets._options import (
    GRID,
    channel_error,
    channel_options,
    layer_label,
    page_count,
    page_size,
)
from featviz_widgets.widgets.tabs import (
    FeatureMapsTab,
    KernelsTab,
    LayersTab,
    MaximizeTab,
    OverlayTab,
    PredictionsTab,
    Selection,
    Tab,
)

COLORMAPS = ("viridis", "gray", "magma", "inferno", "plasma", "cividis", "jet", "turbo", "RdBu_r")
FILTERS = (("convolutions", "conv"), ("all modules", "all"), ("graph nodes", "nodes"))
FILTER_TIPS = ["convolution outputs only", "every module call", "torch.fx nodes, e.g. layer1.0.add"]
ORDER_TIPS = ["channel index order", "highest mean activation first"]


class LayerExplorer(ControlMirror, w.VBox):
    """Explore a model's layers on one image: feature maps, overlay, kernels, maximize, predictions.

    Parameters
    ----------
    model : nn.Module
        Any PyTorch model. It is never modified: hooks are removed and modes restored after each
        capture, and it is not moved (its parameters' device is used).
    img : Any
        A PIL image, path, NumPy array or tensor (see :func:`featviz_widgets.inputs.load_image`).
    weights : torchvision WeightsEnum, optional
        Gives the preprocessing (``weights.transforms()``) and class names.
    labels : sequence of str, optional
        Class names for the Predictions tab (override ``weights``).
    layers : sequence of str, optional
        Capture and list only these module names.
    device : str or torch.device, optional
        Must match the model's device when given (the explorer never moves a model).
    size : int
        Input resolution when ``weights`` is not given (resize, then centre-crop ``size``).

    Examples
    --------
    >>> ex = LayerExplorer(torchvision.models.resnet18(), "cat.jpg")  # doctest: +SKIP
    >>> ex.layer = "layer2.0.conv1"; ex.channel = 5; ex.columns = 16  # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        img: Any,
        *,
        weights: Any = None,
        labels: Sequence[str] | None = None,
        layers: Sequence[str] | None = None,
        device: str | torch.device | None = None,
        size: int = 224,
    ) -> None:
        super().__init__()
        try:
            self._data = ExplorerData(
                model, img, weights=weights, labels=labels, layers=layers, device=device, size=size
            )
            self._build()
        except BaseException:
            self.close()  # a half-built widget would stay registered (and open) forever
            raise

    # -- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self._hold = 0
        self._syncing = False
        self._keys: list[str] = []
        self._image_id = 0
        self._error: str | None = None
        self._build_controls()
        self._build_tabs()
        self.children = [self._control_box(), self._message, self._tab]
        with self._batch():
            self._fill_layers(self._default_filter())
        self.add_class("featviz-explorer")

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

    def _build_tabs(self) -> None:
        request = self._render
        self._tabs: list[Tab] = [
            FeatureMapsTab(request),
            OverlayTab(request),
            KernelsTab(request),
            MaximizeTab(request, lambda: (self._data, self._selection())),
            PredictionsTab(request),
            LayersTab(request),
        ]
        self._tab = w.Tab(
            children=[t.widget for t in self._tabs], titles=[t.title for t in self._tabs]
        )
        self._tab.observe(lambda _: self._render(), "selected_index")
        self._tab.add_class("featviz-tabs")
        for tab in self._tabs:
            tab.widget.add_class(f"featviz-tab-{tab.title.lower().replace(' ', '-')}")

    def _control_box(self) -> w.Widget:
        return w.VBox(
            [
                w.HBox([self._layer, _label("List"), self._filter]),
                w.HBox([self._channel, _label("Sort"), self._order]),
                w.HBox([self._columns, self._page]),
                w.HBox([self._norm, self._cmap, self._export, self._download]),
            ]
        )

    def _default_filter(self) -> str:
        return "conv" if self._data.module_keys(convs_only=True) else "all"

    # -- the one render path ---------------------------------------------------------------
    @contextmanager
    def _batch(self) -> Iterator[None]:
        """Update several controls, then render once (never once per control)."""
        self._hold += 1
        try:
            yield
        finally:
            self._hold -= 1
        self._render()

    def _selection(self) -> Selection:
        return Selection(
            layer=self._layer.value,
            channel=self._channel.value,
            columns=int(self._columns.value),
            page=int(self._page.value) - 1,
            page_size=page_size(self._data.view(self._layer.value)),
            normalization=self._norm.value,
            colormap=self._cmap.value,
            order=self._order.value,
            image_id=self._image_id,
        )

    def _render(self) -> None:
        """Redraw the visible tab from cached activations; show and raise any error."""
        if self._hold or self._layer.value is None:
            return
        tab = self._tabs[self._tab.selected_index or 0]
        try:
            tab.update(self._data, self._selection())
        except Exception as error:
            self._show_error(error)
            raise
        self._clear_error()

    def _show_error(self, error: BaseException) -> None:
        self._error = f"{type(error).__name__}: {error}"
        self._message.value = (
            "<div style='color:#b00020;border-left:3px solid #b00020;padding:4px 8px'>"
            f"{html.escape(self._error)}</div>"
        )

    def _clear_error(self) -> None:
        self._error = None
        self._message.value = ""

    def _check(self, error: Exception | None) -> None:
        """Fail with ``error`` unless it is None (the validators return, never raise)."""
        if error is not None:
            self._fail(error)

    def _fail(self, error: Exception) -> None:
        """Show a programmatic-call error in the widget, then raise it."""
        self._show_error(error)
        raise error

    # -- observers -------------------------------------------------------------------------
    def _on_filter(self, change: dict) -> None:
        if not self._syncing:
            self._fill_layers(change["new"], previous=change["old"])

    def _on_layer(self, change: dict) -> None:
        if change["new"] is not None:
            with self._batch():
                self._fill_channels()

    def _on_order(self, change: dict) -> None:
        with self._batch():
            self._fill_channels()

    def _on_view(self, change: dict) -> None:
        self._render()

    def _on_export(self, _: Any) -> None:
        png = self._visible_png()
        name = f"{self.layer.replace('/', '_')}_{self._channel_slug()}.png"
        link = base64.b64encode(png).decode("ascii")
        self._download.value = (
            f"<a download='{html.escape(name)}' href='data:image/png;base64,{link}'>"
            f"download {html.escape(name)}</a>"
        )

    # -- option lists ----------------------------------------------------------------------
    def _keys_for(self, kind: str) -> list[str]:
        data = self._data
        if kind == "nodes":
            return data.load_nodes()
        return data.module_keys(convs_only=kind == "conv")

    def _fill_layers(self, kind: str, previous: str | None = None) -> None:
        """List the layers of one filter, keeping the current layer when it is listed."""
        try:
            keys = self._keys_for(kind)
            if not keys:
                raise ValueError(f"no layers to list under {kind!r}")
        except Exception as error:
            if previous is not None:
                self._set_filter(previous)
            self._fail(error)
        current = self._layer.value
        with self._batch():
            self._set_filter(kind)
            self._keys = keys
            self._layer.options = [(layer_label(k, self._data.tensor(k)), k) for k in keys]
            self._layer.value = current if current in keys else keys[0]
            self._fill_channels()

    def _set_filter(self, kind: str) -> None:
        """Move the filter control without re-entering its observer."""
        self._syncing = True
        try:
            self._filter.value = kind
        finally:
            self._syncing = False

    def _fill_channels(self) -> None:
        """Channel options for the current layer in the chosen order; keep the choice if valid."""
        view = self._data.view(self._layer.value)
        stats = self._data.stats(self._layer.value)
        current = self._channel.value
        self._channel.options = channel_options(view, stats, self._order.value)
        keep = current is not None and channel_error(current, view.channels, view.key) is None
        self._channel.value = current if keep else GRID
        pages = page_count(view)
        self._page.max = pages
        self._page.value = min(self._page.value, pages)
        self._page.layout.display = None if pages > 1 else "none"

    # -- images and runs ------------------------------------------------------------------
    def set_image(self, img: Any) -> None:
        """Show another image: recapture every layer and redraw (the controls stay as they are).

        Examples
        --------
        >>> ex.set_image("dog.jpg")  # doctest: +SKIP
        """
        self.maximizer.stop()  # the worker must not share the model with the new capture
        try:
            self._data.set_image(img)
        except Exception as error:
            self._fail(error)
        self._image_id += 1
        with self._batch():
            self._fill_layers(self._filter.value)  # graph nodes are recaptured on the way

    def save_png(self, path: str | Path) -> Path:
        """Write the visible tab's picture (the feature maps when it has none) to ``path``.

        Examples
        --------
        >>> ex.save_png("layer2.png")  # doctest: +SKIP
        """
        path = Path(path)
        path.write_bytes(self._visible_png())
        return path

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for the Maximize tab's run to end; return its result (re-raises its error)."""
        return self.maximizer.wait(timeout)

    def close(self) -> None:
        """Stop a running Maximize job, then close every widget the explorer built, and itself.

        Layouts and styles are widgets with comms of their own, so they are closed too.
        """
        if hasattr(self, "_tabs"):  # absent when the constructor failed half-way
            self.maximizer.stop()
        for widget in _widget_tree(self)[1:]:  # [0] is the explorer: its own close comes last
            widget.close()
        super().close()

    @property
    def tabs(self) -> dict[str, Tab]:
        """The tab objects by title (each has ``widget``, and ``image`` where it shows one)."""
        return {t.title: t for t in self._tabs}

    @property
    def maximizer(self) -> MaximizeTab:
        """The Maximize tab (``run()``, ``cancel()``, ``wait()``, and its controls)."""
        return self._tabs[3]  # type: ignore[return-value]

    def _visible_png(self) -> bytes:
        png = self._tabs[self._tab.selected_index or 0].png()
        if png is None:
            self._tabs[0].update(self._data, self._selection())
            png = self._tabs[0].png()
        if png is None:
            self._fail(ValueError(f"{self.layer} has no picture to save"))
        return png

    def _channel_slug(self) -> str:
        channel = self.channel
        return "grid" if channel is None else str(channel)


def _widget_tree(root: w.Widget) -> list[w.Widget]:
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
