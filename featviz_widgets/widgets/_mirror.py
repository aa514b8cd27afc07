"""The Python mirror of the explorer's controls: ``ex.layer = ...``, ``ex.channel = 5``...

Each setter validates, shows a failure in the widget and raises it (``_fail``), then sets the
control, whose observer renders: a programmatic change takes the same path as a click.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from featviz_widgets import render
from featviz_widgets.widgets._data import Activations
from featviz_widgets.widgets._options import (
    GRID,
    bounded_int_error,
    channel_error,
    choice_error,
)

MAX_COLUMNS = 64
ORDERS = (("index", "index"), ("strongest first", "strongest"))


class ControlMirror:
    """Properties over the controls of :class:`~featviz_widgets.widgets.LayerExplorer`.

    The host provides the controls (``_layer``, ``_channel``, ``_columns``, ``_page``, ``_norm``,
    ``_cmap``, ``_order``, ``_tab``), ``_tabs`` (by name), ``_data``, ``_keys``, ``_error`` and
    the methods ``_fail``, ``_check``, ``_showing_errors``, ``_visible_tab`` and ``_fill_layers``.
    """

    @property
    def layer(self) -> str:
        """The layer shown (a capture key: module name, ``name#2`` for a second call, node name)."""
        return self._layer.value

    @layer.setter
    def layer(self, name: str) -> None:
        if name not in self._keys:
            if not isinstance(name, str):
                self._fail(self._data.unknown_layer_error(name))
            if name in self._data.shapes:
                self._fill_layers("all")
            elif self._is_node(name):
                self._fill_layers("nodes")
            else:
                self._fail(self._layer_error(name))
        self._layer.value = name

    def _is_node(self, name: str) -> bool:
        if name in self._data.infos:
            return False  # a module that did not run is not rescued by the graph listing
        try:  # the trace alone answers; the node capture runs only for a real node
            return name in self._data.node_names()
        except ValueError:
            return False  # an untraceable model has module names only

    def _layer_error(self, name: str) -> ValueError:
        info = self._data.infos.get(name)
        if info is not None and self._data.restrict is not None:
            return ValueError(f"layer {name!r} is not in layers= given to the explorer")
        if info is not None:
            return ValueError(
                f"layer {name!r} ({info.type}) never ran in the forward on this image"
            )
        return self._data.unknown_layer_error(name)

    @property
    def layers(self) -> list[str]:
        """Every layer the Layer dropdown can show under the current filter."""
        return list(self._keys)

    @property
    def channel(self) -> int | str | None:
        """The channel shown: an index, ``"sum"`` for the sum of channels, None for the grid."""
        value = self._channel.value
        return None if value == GRID else value

    @channel.setter
    def channel(self, value: int | str | None) -> None:
        with self._showing_errors():  # the layer may need capturing again (or the model is busy)
            channels = self._data.view(self.layer).channels
        error = channel_error(value, channels, self.layer)
        if error is not None:
            self._fail(error)
        self._channel.value = GRID if value is None else value

    @property
    def columns(self) -> int:
        """Tiles per row of the grid."""
        return int(self._columns.value)

    @columns.setter
    def columns(self, value: int) -> None:
        self._check(bounded_int_error("columns", value, 1, MAX_COLUMNS))
        self._columns.value = value

    @property
    def page(self) -> int:
        """Grid page (from 1) for layers wider than one page of channels."""
        return int(self._page.value)

    @page.setter
    def page(self, value: int) -> None:
        self._check(bounded_int_error("page", value, 1, self._page.max))
        self._page.value = value

    @property
    def normalization(self) -> str:
        """How values map to colours: one of ``render.NORMALIZATIONS``."""
        return self._norm.value

    @normalization.setter
    def normalization(self, value: str) -> None:
        self._check(choice_error("normalization", value, render.NORMALIZATIONS))
        self._norm.value = value

    @property
    def colormap(self) -> str:
        """A matplotlib colormap name (any registered name is accepted)."""
        return self._cmap.value

    @colormap.setter
    def colormap(self, name: str) -> None:
        if name not in self._cmap.options:
            try:
                render.colormap_lut(name)
            except (ValueError, TypeError, KeyError) as error:
                self._fail(ValueError(f"unknown colormap {name!r}: {error}"))
            self._cmap.options = [*self._cmap.options, name]
        self._cmap.value = name

    @property
    def order(self) -> str:
        """Channel order of the dropdown and the grid: ``"index"`` or ``"strongest"``."""
        return self._order.value

    @order.setter
    def order(self, value: str) -> None:
        self._check(choice_error("order", value, [v for _, v in ORDERS]))
        self._order.value = value

    @property
    def tab(self) -> str:
        """Title of the visible tab; set it to switch tabs (e.g. ``ex.tab = "Kernels"``)."""
        return self._visible_tab().title

    @tab.setter
    def tab(self, title: str) -> None:
        titles = [t.title for t in self._tabs.values()]
        self._check(choice_error("tab", title, titles))
        self._tab.selected_index = titles.index(title)

    @property
    def activations(self) -> Mapping[str, torch.Tensor]:
        """Every module output on the image: key -> tensor (batch first), in execution order.

        A read-only mapping: listing the keys costs nothing (they come from the shapes survey);
        reading a value captures that layer (one forward that stops after it) unless the
        explorer still keeps it under the memory budget.
        """
        return Activations(self._data)

    @property
    def error(self) -> str | None:
        """The message the widget shows for the last failed action (None when all is well)."""
        return self._error
