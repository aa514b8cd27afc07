"""Jupyter widgets (the only package that imports ipywidgets).

Example
-------
>>> from featviz_widgets.widgets import LayerExplorer  # doctest: +SKIP
>>> LayerExplorer(model, "cat.jpg")  # doctest: +SKIP
"""

from __future__ import annotations

from featviz_widgets.widgets.explorer import LayerExplorer

__all__ = ["LayerExplorer"]
