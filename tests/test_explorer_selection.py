"""The selection model alone (no widgets, no model) and the control panel bound to it.

The model checks every value against plain data (``Limits``) and nothing else: a check captures
nothing, draws nothing and changes nothing, and a refused value raises the documented ValueError
or TypeError (never a TraitError) with the trait unchanged and no event. The panel moves its
controls with the model and sets the model from a control, without echo.
"""

from __future__ import annotations

import ast
import copy
import inspect

import ipywidgets as w
import pytest
import traitlets

from featviz_widgets.widgets import selection as selection_module
from featviz_widgets.widgets.controls import ControlPanel
from featviz_widgets.widgets.selection import SELECTION, Limits, SelectionModel
from featviz_widgets.widgets.strings import text

TITLES = ["Feature maps", "Overlay", "Kernels"]
TABS = {"Feature maps": "Feature maps", "maps": "Feature maps", "特征图": "Feature maps",
        "Overlay": "Overlay", "overlay": "Overlay", "Kernels": "Kernels", "kernels": "Kernels"}  # fmt: skip


def _model(lang: str = "en") -> SelectionModel:
    """A model whose limits describe a small CNN: conv1 (8 channels) shown, conv2, a graph node."""
    sel = SelectionModel(lang)
    sel.allow(
        layers={"conv1": "all", "conv2": "all", "bn1": "all", "add": "nodes"},
        modules={"conv1": "Conv2d", "conv2": "Conv2d", "bn1": "BatchNorm2d", "unused": "Conv2d"},
        names=("conv1", "conv2", "bn1", "add", "unused"),
        layer="conv1", channels=8, pages=1, frames=1, tabs=TABS,
    )  # fmt: skip
    sel.layer, sel.filter, sel.tab = "conv1", "conv", "Feature maps"
    return sel


def _values(sel: traitlets.HasTraits) -> dict[str, object]:
    return {name: getattr(sel, name) for name in SELECTION}


def test_the_traits_are_typed_and_not_synced() -> None:
    traits = SelectionModel.class_traits()
    assert set(SELECTION) <= set(traits)
    text_traits = ("layer", "filter", "normalization", "colormap", "order", "time_view", "tab")
    assert all(isinstance(traits[name], traitlets.Unicode) for name in text_traits)
    assert all(isinstance(traits[name], traitlets.Int) for name in ("columns", "page", "frame"))
    assert isinstance(traits["channel"], traitlets.Union) and traits["channel"].allow_none
    assert not any(traits[name].metadata.get("sync") for name in SELECTION)
    sel = SelectionModel()
    assert (sel.channel, sel.columns, sel.page, sel.frame, sel.order) == (None, 8, 1, 0, "index")


def test_values_are_normalized_as_the_explorer_documents() -> None:
    sel = _model()
    sel.channel = "grid"
    assert sel.channel is None
    sel.channel = "sum"
    assert sel.channel == "sum"
    for spelling in ("kernels", "Kernels"):
        sel.tab = "Feature maps"
        sel.tab = spelling
        assert sel.tab == "Kernels"
    sel.tab = "特征图"  # the title shown in Chinese
    assert sel.tab == "Feature maps"
    sel.colormap = "twilight"  # any registered matplotlib name
    assert sel.colormap == "twilight"


BAD = [
    ("layer", "conv3", ValueError, "unknown layer 'conv3'. Did you mean 'conv1'"),
    ("layer", 3, ValueError, "layer must be a string, got int"),
    ("layer", None, ValueError, "layer must be a string, got NoneType"),
    ("layer", "unused", ValueError, r"layer 'unused' \(Conv2d\) never ran"),
    ("channel", 8, ValueError, r"an int in \[0, 8\) for conv1"),
    ("channel", True, ValueError, "channel must be None"),
    ("channel", 2.5, ValueError, "channel must be None"),
    ("columns", 65, ValueError, r"columns must be an int in \[1, 64\]"),
    ("columns", "4", ValueError, r"columns must be an int in \[1, 64\]"),
    ("page", 2, ValueError, r"page must be an int in \[1, 1\]"),
    ("frame", 1, ValueError, "frame must be 0 for conv1: it has no time axis"),
    ("filter", "node", ValueError, "Did you mean 'nodes'"),
    ("normalization", 3, ValueError, "unknown normalization 3"),
    ("colormap", "no_such_map", ValueError, "unknown colormap 'no_such_map'"),
    ("order", "random", ValueError, "unknown order 'random'"),
    ("time_view", "median", ValueError, "unknown time_view 'median'"),
    ("tab", "Kernel", ValueError, "unknown tab 'Kernel'.*Did you mean"),
]


@pytest.mark.parametrize(("name", "value", "kind", "message"), BAD,
                         ids=[f"{n}={v!r}" for n, v, *_ in BAD])  # fmt: skip
def test_a_bad_value_raises_and_leaves_the_model_as_it_was(name, value, kind, message) -> None:
    sel = _model()
    before, limits = _values(sel), copy.deepcopy(sel.limits)
    seen: list[str] = []
    sel.observe(lambda change: seen.append(change["name"]), list(SELECTION))
    with pytest.raises(kind, match=message) as raised:
        setattr(sel, name, value)
    assert not isinstance(raised.value, traitlets.TraitError)
    assert _values(sel) == before and sel.limits == limits and seen == []


def test_checks_read_the_limits_the_explorer_gives_and_nothing_else() -> None:
    sel = _model()
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        sel.channel = 12
    sel.allow(layer="conv2", channels=16, pages=3, frames=4)  # the explorer shows a wider layer
    sel.layer, sel.channel, sel.page, sel.frame = "conv2", 12, 3, 3
    assert (sel.channel, sel.page, sel.frame) == (12, 3, 3)
    assert sel.check("layer", "add") == "add"  # a graph node the explorer knows of
    sel.allow(restricted=True)  # the explorer was given layers=
    with pytest.raises(ValueError, match="'unused' is not in layers="):
        sel.layer = "unused"
    with pytest.raises(
        ValueError, match="choose one of \\('Feature maps', 'Overlay', 'Kernels'\\)"
    ):
        sel.check("tab", "Layers")


def test_a_check_has_no_side_effect_and_the_module_needs_no_widget() -> None:
    sel = _model()
    before, limits = _values(sel), copy.deepcopy(sel.limits)
    for name, value, *_ in BAD:
        with pytest.raises(ValueError):
            sel.check(name, value)
    assert sel.check("channel", "grid") is None and sel.check("tab", "maps") == "Feature maps"
    assert _values(sel) == before and sel.limits == limits
    # The model module builds no widget and calls no model: its imports say so.
    imported = set()
    for node in ast.walk(ast.parse(inspect.getsource(selection_module))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert not any(name.startswith(("ipywidgets", "torch")) for name in imported), imported
    assert not any("engine" in name or "_data" in name for name in imported), imported


def test_errors_speak_the_models_language() -> None:
    sel = _model("zh")
    with pytest.raises(ValueError) as raised:
        sel.frame = 1
    assert str(raised.value) == text("zh", "err_frame_flat", layer="conv1", value=1)
    with pytest.raises(ValueError) as raised:
        sel.columns = 0
    assert str(raised.value) == text("zh", "err_bounded", name="columns", low=1, high=64, value=0)


def test_limits_are_plain_frozen_data() -> None:
    limits = Limits(channels=4)
    with pytest.raises(AttributeError):
        limits.channels = 5  # type: ignore[misc]
    sel = SelectionModel()
    sel.allow(channels=4)
    assert sel.limits == limits


# -- the control panel bound to a model ------------------------------------------------------
@pytest.fixture
def panel() -> ControlPanel:
    sel = _model()
    tabs = w.Tab(children=[w.HTML() for _ in TITLES], titles=TITLES)
    exported: list[object] = []
    view = ControlPanel(sel, tabs, TITLES, "en", exported.append)
    view.show("layer", options=[("conv1  8x4x4", "conv1"), ("conv2  16x4x4", "conv2")])
    view.show(
        "channel", options=[("grid", "grid"), ("sum", "sum"), *[(str(c), c) for c in range(9)]]
    )
    view.show("filter")
    view.exported = exported
    yield view
    for widget in (tabs, *tabs.children, view.widget):
        widget.close()


def test_a_control_sets_the_model_and_the_model_moves_the_control(panel) -> None:
    sel, seen = panel.selection, []
    sel.observe(lambda change: seen.append((change["name"], change["new"])), list(SELECTION))
    panel.channel.value = 3  # a click
    panel.columns.value = 5
    panel.layer.value = "conv2"
    assert (sel.channel, sel.columns, sel.layer) == (3, 5, "conv2")
    assert seen == [("channel", 3), ("columns", 5), ("layer", "conv2")]  # once each: no echo
    seen.clear()
    sel.channel = None  # from Python
    sel.normalization = "layer"
    assert panel.channel.value == "grid" and panel.normalization.value == "layer"
    assert seen == [("channel", None), ("normalization", "layer")]
    panel.export.click()
    assert len(panel.exported) == 1


def test_a_refused_click_puts_the_control_back(panel) -> None:
    sel = panel.selection
    sel.channel = 2
    with pytest.raises(ValueError, match=r"an int in \[0, 8\)"):
        panel.channel.value = 8  # listed by the dropdown, refused by the model's limits
    assert sel.channel == 2 and panel.channel.value == 2


def test_new_options_never_move_the_model(panel) -> None:
    sel, seen = panel.selection, []
    sel.observe(lambda change: seen.append(change["name"]), list(SELECTION))
    panel.show("layer", options=[("bn1", "bn1"), ("conv1", "conv1")])  # conv1 still listed
    assert panel.layer.value == "conv1" and sel.layer == "conv1"
    panel.show("layer", options=[("bn1", "bn1")])  # conv1 gone: the explorer moves next
    assert sel.layer == "conv1" and seen == []
    sel.allow(pages=3, frames=4)
    sel.page = 3
    panel.show_range("page", 3)
    assert panel.page.max == 3 and panel.page.value == 3 and panel.page.layout.display is None
    sel.page = 1
    panel.show_range("page", 1)
    assert panel.page.layout.display == "none" and seen == ["page", "page"]


def test_the_tab_bar_time_controls_and_colormaps_follow_the_model(panel) -> None:
    sel, tabs = panel.selection, panel.binding("tab").control
    sel.tab = "kernels"
    assert tabs.selected_index == 2
    tabs.selected_index = 1  # a click on the Overlay tab
    assert sel.tab == "Overlay"
    sel.time_view = "mean"
    assert panel.time_view.value == "mean" and panel.frame.disabled
    sel.time_view = "frame"
    assert not panel.frame.disabled
    panel.show_time(True)
    assert panel.time_box.layout.display is None
    sel.colormap = "twilight"  # not offered yet: the dropdown gains it
    assert panel.colormap.value == "twilight" and "twilight" in panel.colormap.options
