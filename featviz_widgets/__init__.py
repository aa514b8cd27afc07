"""featviz_widgets: Jupyter widgets that show what a PyTorch CNN sees."""

from __future__ import annotations

__version__ = "0.1.0"
