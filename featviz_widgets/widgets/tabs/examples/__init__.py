"""The Examples tab: the dataset images that excite the selected channel most (``dataset=``)."""

from __future__ import annotations

from featviz_widgets.widgets.tabs.examples.pictures import GRID_TILE
from featviz_widgets.widgets.tabs.examples.tab import ExamplesTab

TAB = ExamplesTab

__all__ = ["GRID_TILE", "TAB", "ExamplesTab"]
