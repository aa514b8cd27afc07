"""The Predictions tab: what the model says about the photo."""

from __future__ import annotations

from featviz_widgets.widgets.tabs.predictions.tab import PredictionsTab, top_predictions

TAB = PredictionsTab

__all__ = ["TAB", "PredictionsTab", "top_predictions"]
