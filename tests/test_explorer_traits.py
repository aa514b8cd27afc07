"""The explorer's selection as traitlets: observe, link, validation, frame controls, Layers rows.

Every change, from Python or from a control, fires each observer once and renders once; two
linked explorers follow each other both ways; a bad value raises the documented ValueError (never
a TraitError), is shown in the widget, and leaves the trait and its control as they were.
"""

from __future__ import annotations

import ipywidgets as w
import numpy as np
import pytest
import torch
import traitlets
from support import UntraceableCNN, assert_model_unchanged, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets.widgets import LayerExplorer
from featviz_widgets.widgets.selection import SELECTION
from featviz_widgets.widgets.strings import text

rng = np.random.default_rng(0)
PHOTO = (rng.random((48, 48, 3)) * 255).astype(np.uint8)
OTHER = np.ascontiguousarray(PHOTO[::-1, ::-1])


def _renders(ex: LayerExplorer) -> list[str]:
    """Spy on every tab's ``update``: one entry per render the explorer asks for."""
    calls: list[str] = []
    for tab in ex._tabs.values():
        original = tab.update

        def update(sel, _original=original, _name=tab.name):
            calls.append(_name)
            return _original(sel)

        tab.update = update
    return calls


def _events(ex: LayerExplorer, *names: str) -> list[tuple[str, object, object]]:
    seen: list[tuple[str, object, object]] = []
    ex.observe(lambda c: seen.append((c["name"], c["old"], c["new"])), list(names) or SELECTION)
    return seen


@pytest.fixture
def ex():
    explorer = LayerExplorer(make_tiny_cnn(), PHOTO, size=32)
    yield explorer
    explorer.close()


def test_the_selection_is_traitlets(ex) -> None:
    traits = ex.traits()
    for name in SELECTION:
        assert name in traits and not traits[name].metadata.get("sync"), name
    assert (ex.layer, ex.channel, ex.columns, ex.page, ex.filter) == ("conv1", None, 8, 1, "conv")
    assert (ex.frame, ex.time_view, ex.tab, ex.order) == (0, "frame", "Feature maps", "index")


def test_observe_fires_once_and_renders_once_from_python_and_from_the_control(ex) -> None:
    seen, renders = _events(ex), _renders(ex)
    ex.channel = 3
    assert seen == [("channel", None, 3)] and renders == ["maps"]
    assert ex._panel.channel.value == 3  # the control moved with the trait
    seen.clear(), renders.clear()
    ex._panel.channel.value = 5  # what a click in the browser does
    assert seen == [("channel", 3, 5)] and renders == ["maps"] and ex.channel == 5
    seen.clear(), renders.clear()
    ex._panel.columns.value = 4
    ex.columns = 4  # the same value again: no event, no render
    assert seen == [("columns", 8, 4)] and renders == ["maps"]
    seen.clear(), renders.clear()
    ex.layer = "conv2"  # channel 5 exists in conv2 (16 channels): kept
    assert seen == [("layer", "conv1", "conv2")] and renders == ["maps"]
    seen.clear(), renders.clear()
    ex._panel.layer.value = "conv1"
    assert seen == [("layer", "conv2", "conv1")] and renders == ["maps"] and ex.channel == 5
    seen.clear(), renders.clear()
    ex._tab.selected_index = 2  # the Kernels tab
    assert seen == [("tab", "Feature maps", "Kernels")] and renders == ["kernels"]
    seen.clear(), renders.clear()
    ex._select(layer="conv2", channel=None, columns=6)  # a picture click: one render for all
    assert [name for name, *_ in seen] == ["layer", "channel", "columns"] and renders == ["kernels"]


def test_a_layer_change_that_drops_the_channel_fires_both_and_renders_once(ex) -> None:
    ex.layer, ex.channel = "conv2", 12
    seen, renders = _events(ex), _renders(ex)
    ex.layer = "conv1"  # 8 channels: channel 12 goes back to the grid
    assert seen == [("channel", 12, None), ("layer", "conv2", "conv1")]
    assert renders == ["maps"] and ex._panel.channel.value == "grid"


def test_a_layer_the_filter_does_not_list_switches_the_filter(ex) -> None:
    seen = _events(ex, "layer", "filter")
    ex.layer = "bn1"
    assert ex.filter == "all" and ex._panel.filter.value == "all" and "bn1" in ex.layers
    assert seen == [("filter", "conv", "all"), ("layer", "conv1", "bn1")]
    assert ex._panel.layer.value == "bn1"
    seen.clear()
    ex.filter = "conv"  # bn1 is not listed: the first convolution is shown
    assert seen == [("layer", "bn1", "conv1"), ("filter", "all", "conv")]


BAD = [
    ("layer", "conv3", "Did you mean 'conv1'"),
    ("layer", 3, "layer must be a string"),
    ("channel", 99, r"an int in \[0, 8\) for conv1"),
    ("channel", "all", "channel must be None"),
    ("channel", True, "channel must be None"),
    ("columns", 0, r"columns must be an int in \[1, 64\]"),
    ("columns", 2.5, "columns must be an int"),
    ("page", 2, r"page must be an int in \[1, 1\]"),
    ("normalization", "chanel", "Did you mean 'channel'"),
    ("colormap", "no_such_map", "unknown colormap 'no_such_map'"),
    ("order", "random", "unknown order 'random'"),
    ("filter", "node", "Did you mean 'nodes'"),
    ("tab", "Kernel", "Did you mean"),
    ("frame", 1, "frame must be 0 for conv1: it has no time axis"),
    ("time_view", "median", "unknown time_view 'median'"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD, ids=[f"{n}={v!r}" for n, v, _ in BAD])
def test_a_bad_value_raises_shows_and_leaves_the_trait(ex, name, value, message) -> None:
    before = {n: getattr(ex, n) for n in SELECTION}
    binding = ex._panel.binding(name)
    shown = getattr(binding.control, binding.attr)
    seen, renders = _events(ex), _renders(ex)
    with pytest.raises(ValueError, match=message) as raised:
        setattr(ex, name, value)
    assert not isinstance(raised.value, traitlets.TraitError)
    assert {n: getattr(ex, n) for n in SELECTION} == before
    assert getattr(binding.control, binding.attr) == shown
    assert seen == [] and renders == []
    assert ex.error is not None and "ValueError" in ex._message.widget.value
    ex.columns = 7  # the next good change clears the message
    assert ex.error is None and ex._message.widget.value == ""


def test_a_refused_click_puts_the_control_back() -> None:
    ex = LayerExplorer(UntraceableCNN(), PHOTO, size=32)
    try:
        seen = _events(ex)
        with pytest.raises(ValueError):
            ex._panel.filter.value = "nodes"  # a click on "graph nodes": the listing fails
        assert ex._panel.filter.value == "conv" and ex.filter == "conv" and seen == []
        assert ex.error is not None and ex._message.widget.value
        ex._panel.columns.value = 5  # a good click clears the message
        assert ex.columns == 5 and ex.error is None
    finally:
        ex.close()


def test_tab_takes_the_title_the_registry_name_or_the_shown_title() -> None:
    ex = LayerExplorer(make_tiny_cnn(), PHOTO, size=32, lang="zh")
    try:
        assert ex.lang == "zh" and ex._tab.titles[2] == "卷积核"
        assert ex._panel.frame.description == text("zh", "frame") != text("en", "frame")
        assert ex._panel.columns.description == text("zh", "grid_width")
        labels = [label for label, _ in ex._panel.time_view.options]
        assert labels == [text("zh", f"time_{view}") for view in ("frame", "mean", "sum")]
        with pytest.raises(ValueError) as raised:
            ex.frame = 1  # the frame error in the explorer's language
        assert str(raised.value) == text("zh", "err_frame_flat", layer="conv1", value=1)
        ex.tab = "kernels"
        assert ex.tab == "Kernels" and ex._tab.selected_index == 2
        ex.tab = "层列表"
        assert ex.tab == "Layers"
        ex.tab = "Overlay"
        assert ex._tab.selected_index == 1 and ex._visible_tab() is ex.tab_object("overlay")
    finally:
        ex.close()


def test_two_linked_explorers_follow_each_other_both_ways() -> None:
    model = make_tiny_cnn()
    before = model_state(model)
    a = LayerExplorer(model, PHOTO, size=32)
    b = LayerExplorer(model, OTHER, size=32)
    try:
        links = [w.link((a, name), (b, name)) for name in ("layer", "channel", "columns")]
        a_renders, b_renders = _renders(a), _renders(b)
        a_seen, b_seen = _events(a, "channel"), _events(b, "channel")
        a.layer = "conv2"
        assert b.layer == "conv2" and b._panel.layer.value == "conv2"
        b.channel = 7
        assert a.channel == 7 and a._panel.channel.value == 7
        assert a_seen == [("channel", None, 7)] and b_seen == [("channel", None, 7)]
        a._panel.columns.value = 3  # from a control of one explorer
        assert b.columns == 3 and b._panel.columns.value == 3
        assert a_renders == b_renders == ["maps"] * 3  # one render per change, no echo
        pa, pb = a.tab_object("maps").image.value, b.tab_object("maps").image.value
        assert pa != pb  # the same channel of two images
        assert a.error is None and b.error is None
        for link in links:
            link.unlink()
        a.channel = 1
        assert b.channel == 7
    finally:
        a.close()
        b.close()
    assert_model_unchanged(model, before)


def test_select_applies_the_layer_first_and_names_unknown_fields(ex) -> None:
    renders = _renders(ex)
    ex._select(channel=12, layer="conv2")  # 12 is valid only once the layer is conv2
    assert (ex.layer, ex.channel) == ("conv2", 12) and renders == ["maps"]
    with pytest.raises(ValueError, match="unknown selection"):
        ex._select(chanel=3)


# -- video layers: the Frame slider and the time view ----------------------------------------
class _Clip(nn.Module):
    """A 2-D conv, then a Conv3d over a 4-frame clip made from the image (a 5-D output)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv2d = nn.Conv2d(3, 4, 3)
        self.conv3d = nn.Conv3d(4, 5, (2, 3, 3))  # 4 frames in, 3 out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2d(x)
        frames = torch.stack([y * (t + 1) for t in range(4)], dim=2)
        return self.conv3d(frames).mean((2, 3, 4))


def test_frame_controls_show_for_a_video_layer_only_and_validate_against_t() -> None:
    torch.manual_seed(0)
    model = _Clip()
    before = model_state(model)
    ex = LayerExplorer(model, PHOTO, size=32)
    try:
        assert ex.layer == "conv2d" and ex._panel.time_box.layout.display == "none"
        seen = _events(ex, "frame", "time_view")
        ex.layer = "conv3d"
        assert ex._data.view("conv3d").frames.shape[:2] == (5, 3)
        assert ex._panel.time_box.layout.display is None and ex._panel.frame.max == 2
        ex.frame = 2
        assert ex._panel.frame.value == 2 and ex._snapshot().frame == 2
        with pytest.raises(ValueError, match=r"frame must be an int in \[0, 3\) for conv3d"):
            ex.frame = 3
        with pytest.raises(ValueError, match="frame must be an int"):
            ex.frame = "1"
        assert ex.frame == 2
        ex._panel.frame.value = 1  # the slider
        ex._panel.time_view.value = "mean"  # the toggle
        assert (ex.frame, ex.time_view) == (1, "mean") and ex._panel.frame.disabled
        assert ex._snapshot().time_view == "mean"
        assert seen == [("frame", 0, 2), ("frame", 2, 1), ("time_view", "frame", "mean")]
        ex.time_view = "sum"
        assert ex._panel.time_view.value == "sum" and ex._panel.frame.disabled
        ex.time_view = "frame"
        assert not ex._panel.frame.disabled
        ex.layer = "conv2d"  # no time axis: frame back to 0, the controls hidden
        assert ex.frame == 0 and ex._panel.time_box.layout.display == "none"
        assert ex.error is None
    finally:
        ex.close()
    assert_model_unchanged(model, before)


def test_a_clip_through_conv3d_layers_steps_frames_and_clamps_them() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(3, 6, 3, padding=1), nn.ReLU(),
        nn.Conv3d(6, 4, (2, 3, 3), stride=(2, 1, 1)),  # halves time: 8 frames -> 4
        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 3),
    )  # fmt: skip
    before = model_state(model)
    clip = torch.rand(1, 3, 8, 24, 24)
    original = clip.clone()
    ex = LayerExplorer(model, clip, size=24)
    try:
        picture = ex.tab_object("maps").image
        assert ex.layers == ["0", "2"] and ex._panel.frame.max == 7
        assert ex._panel.time_box.layout.display is None
        ex.channel = 1
        first = picture.value
        ex.frame = 5  # the Feature maps tab draws the frame the Selection names
        assert picture.value != first and ex._snapshot().frame == 5
        ex.time_view = "mean"
        mean = picture.value
        ex.frame = 6  # a mean over time does not depend on the frame
        assert picture.value == mean
        ex.layer = "2"  # 4 frames: frame 6 becomes the last one
        assert ex.frame == 3 and ex._panel.frame.max == 3 and ex._panel.frame.value == 3
        with pytest.raises(ValueError, match=r"\[0, 4\) for 2 \(4 frames\)"):
            ex.frame = 4
        assert ex.error is not None and torch.equal(clip, original)  # the caller's clip intact
    finally:
        ex.close()
    assert_model_unchanged(model, before)


# -- the Layers tab: rows you click ----------------------------------------------------------
def _click(ex: LayerExplorer, key: str) -> None:
    """What table.js sends on a row click, through the widget's real message path."""
    ex.tab_object("layers").table._handle_custom_msg({"event": "pick", "key": key}, [])


def test_a_click_on_a_layers_row_selects_that_layer(ex) -> None:
    ex.tab = "Layers"
    table = ex.tab_object("layers").table
    assert table.selected == "conv1" and table.row_keys() == list(ex.activations)
    assert [row[0] for row in table.rows] == [row[1] for row in table.rows]  # key, then name
    sent = []
    table.observe(lambda c: sent.append(c["name"]), ["rows", "header"])
    seen = _events(ex, "layer")
    _click(ex, "conv2")
    assert ex.layer == "conv2" and ex._panel.layer.value == "conv2" and table.selected == "conv2"
    assert seen == [("layer", "conv1", "conv2")]
    _click(ex, "relu1")  # not a convolution: the filter switches, as ex.layer = "relu1" does
    assert ex.layer == "relu1" and ex.filter == "all" and table.selected == "relu1"
    assert sent == []  # a layer change moves the highlight only; the rows were sent once
    _click(ex, "no_such_layer")  # not a row of the table: ignored
    assert ex.layer == "relu1" and ex.error is None
    ex.set_image(OTHER)  # a new image rebuilds the rows: the same shapes, so nothing is resent
    assert sent == [] and table.selected == "relu1" and table.row_keys() == list(ex.activations)


def test_layers_rows_of_modules_that_did_not_run_take_no_click() -> None:
    class Skips(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.unused = nn.Conv2d(4, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    ex = LayerExplorer(Skips(), PHOTO, size=32)
    try:
        ex.tab = "Layers"
        table = ex.tab_object("layers").table
        assert table.row_keys() == ["conv"]
        assert table.rows[-1][:2] == ["", "unused"] and "did not run" in table.rows[-1]
        _click(ex, "unused")
        assert ex.layer == "conv" and ex.error is None
    finally:
        ex.close()
