"""featviz_widgets: Jupyter widgets that show what a PyTorch CNN sees.

The public API is the handful of names in ``__all__``. They are imported lazily so that
``import featviz_widgets`` stays cheap and the engine (capture, render, optvis) works in a
plain script where ipywidgets is not installed; only ``LayerExplorer`` needs ipywidgets.

Example
-------
>>> from featviz_widgets import LayerExplorer  # doctest: +SKIP
>>> LayerExplorer(model, "cat.jpg")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute); attribute None means "the module itself"
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "LayerExplorer": ("featviz_widgets.widgets", "LayerExplorer"),
    "capture": ("featviz_widgets.engine", "capture"),
    "Capture": ("featviz_widgets.engine", "Capture"),
    "list_layers": ("featviz_widgets.engine", "list_layers"),
    "list_nodes": ("featviz_widgets.engine", "list_nodes"),
    "set_memory_budget": ("featviz_widgets.engine", "set_memory_budget"),
    "memory_budget": ("featviz_widgets.engine", "memory_budget"),
    "load_image": ("featviz_widgets.inputs", "load_image"),
    "prepare_image": ("featviz_widgets.inputs", "prepare_image"),
    "prepare_clip": ("featviz_widgets.inputs", "prepare_clip"),
    "maximize": ("featviz_widgets.optvis", "maximize"),
    "MaximizeSettings": ("featviz_widgets.optvis", "MaximizeSettings"),
    "top_examples": ("featviz_widgets.examples", "top_examples"),
    "attribute": ("featviz_widgets.attribution", "attribute"),
    "sanity_check": ("featviz_widgets.attribution", "sanity_check"),
    "faithfulness": ("featviz_widgets.attribution", "faithfulness"),
    "objectives": ("featviz_widgets.optvis.objectives", None),
    "render": ("featviz_widgets.render", None),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'featviz_widgets' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
