"""The Layers tab: every layer of the model, a row click selects it."""

from __future__ import annotations

from featviz_widgets.widgets.tabs.layers.tab import LayersTab

TAB = LayersTab

__all__ = ["TAB", "LayersTab"]
