"""The Feature maps tab: every channel of the selected layer as a grid, or one channel."""

from __future__ import annotations

from featviz_widgets.widgets.tabs.feature_maps.tab import FeatureMapsTab

TAB = FeatureMapsTab

__all__ = ["TAB", "FeatureMapsTab"]
