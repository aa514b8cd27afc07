"""The Kernels tab: the selected layer's weights."""

from __future__ import annotations

from featviz_widgets.widgets.tabs.kernels.tab import MATRIX_PIXELS, KernelsTab

TAB = KernelsTab

__all__ = ["MATRIX_PIXELS", "TAB", "KernelsTab"]
