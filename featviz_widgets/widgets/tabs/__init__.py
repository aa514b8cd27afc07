"""The explorer's tabs, one package per tab, and the registry the explorer builds from.

Each tab has a unique ``name`` (how code looks a tab up: ``ex.tab_object("maximize")``) and a
``title`` (English; ``ex.tab = "Maximize"``); the title the user reads is the string
``tab_<name>`` of the explorer's language. A tab never imports another tab: what it needs comes
through its :class:`TabContext`, and what tabs share lives in ``_base`` (:class:`Tab`,
:class:`PictureTab`, :class:`JobTab` for work in a worker thread) and in ``widgets/``.

Adding a tab
------------
1. Make a package here, e.g. ``tabs/saliency/``, whose ``__init__`` sets ``TAB`` to a
   :class:`Tab` subclass with a new ``name``, a ``title`` and an ``order`` (Feature maps is 10,
   Layers 70: 45 puts it between Maximize and Examples).
2. Add the key ``tab_<name>`` (and the tab's own strings) to every language table in
   ``widgets/strings``.

Nothing else changes: :data:`TABS` finds every package here that sets ``TAB``, in ``order``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType

from featviz_widgets.widgets.tabs._base import JobTab, PictureTab, Selection, Tab, TabContext
from featviz_widgets.widgets.tabs.examples import ExamplesTab
from featviz_widgets.widgets.tabs.feature_maps import FeatureMapsTab
from featviz_widgets.widgets.tabs.kernels import KernelsTab
from featviz_widgets.widgets.tabs.layers import LayersTab
from featviz_widgets.widgets.tabs.maximize import MaximizeTab
from featviz_widgets.widgets.tabs.overlay import OverlayTab
from featviz_widgets.widgets.tabs.predictions import PredictionsTab


def discover(package: ModuleType) -> tuple[type[Tab], ...]:
    """The tab classes of ``package``'s subpackages (each one's ``TAB``), by ``order`` then name.

    Modules and packages whose name starts with ``_`` are shared code, not tabs. TypeError names
    a tab package whose ``TAB`` is missing or is not a :class:`Tab` subclass.
    """
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        tab = getattr(module, "TAB", None)
        if not (isinstance(tab, type) and issubclass(tab, Tab)):
            raise TypeError(
                f"tab package {module.__name__} must set TAB to its Tab subclass, got {tab!r}"
            )
        found.append(tab)
    return tuple(sorted(found, key=lambda cls: (cls.order, cls.name)))


TABS: tuple[type[Tab], ...] = discover(sys.modules[__name__])


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
    "JobTab",
    "KernelsTab",
    "LayersTab",
    "MaximizeTab",
    "OverlayTab",
    "PictureTab",
    "PredictionsTab",
    "Selection",
    "Tab",
    "TabContext",
    "build_tabs",
    "discover",
]
