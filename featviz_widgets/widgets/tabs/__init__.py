"""The explorer's tabs, one module per tab family."""

from featviz_widgets.widgets.tabs._base import Selection, Tab
from featviz_widgets.widgets.tabs.feature_maps import FeatureMapsTab
from featviz_widgets.widgets.tabs.kernels import KernelsTab
from featviz_widgets.widgets.tabs.maximize import MaximizeTab
from featviz_widgets.widgets.tabs.overlay import OverlayTab
from featviz_widgets.widgets.tabs.tables import LayersTab, PredictionsTab

__all__ = [
    "FeatureMapsTab",
    "KernelsTab",
    "LayersTab",
    "MaximizeTab",
    "OverlayTab",
    "PredictionsTab",
    "Selection",
    "Tab",
]
