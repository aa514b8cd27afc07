"""The Attribution tab: why the model gave a class its score, where and through which channels."""

from __future__ import annotations

from featviz_widgets.widgets.tabs.attribution.tab import AttributionTab

TAB = AttributionTab

__all__ = ["TAB", "AttributionTab"]
