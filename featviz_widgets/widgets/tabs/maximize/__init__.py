"""The Maximize tab: activation maximization of the selected channel, layer or class."""

from __future__ import annotations

from featviz_widgets.widgets.tabs.maximize.sizes import SIZES
from featviz_widgets.widgets.tabs.maximize.tab import MaximizeTab

TAB = MaximizeTab

__all__ = ["SIZES", "TAB", "MaximizeTab"]
