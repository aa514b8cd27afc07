"""The explorer's tabs, one module per tab family, and the registry the explorer builds from.

``TABS`` is the ordered list of tab classes; each has a unique ``name`` (how code looks a tab up:
``ex.tab_object("maximize")``) and a ``title`` (what the user reads: ``ex.tab = "Maximize"``).
A tab never imports another tab; what it needs comes through its :class:`TabContext`.
"""

from __future__ import annotations

from featviz_widgets.widgets.tabs._base import Selection, Tab, TabContext
from featviz_widgets.widgets.tabs.examples import ExamplesTab
from featviz_widgets.widgets.tabs.feature_maps import FeatureMapsTab
from featviz_widgets.widgets.tabs.kernels import KernelsTab
from featviz_widgets.widgets.tabs.maximize import MaximizeTab
from featviz_widgets.widgets.tabs.overlay import OverlayTab
from featviz_widgets.widgets.tabs.tables import LayersTab, PredictionsTab

TABS: tuple[type[Tab], ...] = (
    FeatureMapsTab,
    OverlayTab,
    KernelsTab,
    MaximizeTab,
    ExamplesTab,
    PredictionsTab,
    LayersTab,
)


def build_tabs(ctx: TabContext, classes: tuple[type[Tab], ...] = TABS) -> dict[str, Tab]:
    """One tab per class the context wants (``Tab.wanted``), by name, in display order.

    ValueError for a repeated name or title.
    """
    tabs: dict[str, Tab] = {}
    titles: set[str] = set()
    for cls in classes:
        if not cls.wanted(ctx):
            continue
        if not cls.name or cls.name in tabs or cls.title in titles:
            raise ValueError(f"tab {cls.__name__} needs a unique name and title, got {cls.name!r}")
        tabs[cls.name] = cls(ctx)
        titles.add(cls.title)
    return tabs


__all__ = [
    "TABS",
    "ExamplesTab",
    "FeatureMapsTab",
    "KernelsTab",
    "LayersTab",
    "MaximizeTab",
    "OverlayTab",
    "PredictionsTab",
    "Selection",
    "Tab",
    "TabContext",
    "build_tabs",
]
