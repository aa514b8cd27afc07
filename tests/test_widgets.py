"""LayerExplorer without a browser: set controls, decode the PNGs, check the model after each step."""

from __future__ import annotations

import ast
import gc
import html
import io
import threading
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from skimage import data as skdata
from support import (
    FixedSizeCNN,
    UntraceableCNN,
    assert_model_unchanged,
    make_tiny_cnn,
    model_state,
)
from torch import nn

from featviz_widgets import engine, render
from featviz_widgets.widgets import LayerExplorer
from featviz_widgets.widgets._options import MAX_PAGE, page_size
from featviz_widgets.widgets.jobs import JobRunner
from featviz_widgets.widgets.tabs import TABS, build_tabs
from featviz_widgets.widgets.tabs.maximize import SIZES
from featviz_widgets.widgets.tabs.tables import top_predictions

CAT = skdata.chelsea()  # 300x451 RGB


class _TinyNet(nn.Module):
    """Named convs, an in-place ReLU, a residual add and a functional flatten (FX nodes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 12, 3, padding=1, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = x + self.relu(self.conv2(x))
        x = self.pool(self.relu(self.conv3(x)))
        return self.fc(torch.flatten(x, 1))


def _unchanged(model: nn.Module, before) -> None:
    assert_model_unchanged(model, before)  # bit-identical state, flags, and no hooks


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _feature_image(ex: LayerExplorer) -> np.ndarray:
    return _decode(ex.tabs["Feature maps"].image.value)


def _expected_grid_shape(ex: LayerExplorer) -> tuple[int, int]:
    maps = ex._data.view(ex.layer).maps
    channels, h, w = maps.shape
    size = page_size(ex._data.view(ex.layer))
    start = (ex.page - 1) * size
    count = min(size, channels - start)
    lay = render.grid_layout(channels, h, w, ex.columns, start=start, count=count)
    return (
        lay.rows * lay.tile_h + (lay.rows - 1) * lay.pad,
        lay.cols * lay.tile_w + (lay.cols - 1) * lay.pad,
    )


@pytest.fixture(scope="module")
def tiny() -> tuple[nn.Module, LayerExplorer, dict]:
    model = make_tiny_cnn()
    model.train()  # a training-mode model must come back in training mode
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=64)
    _unchanged(model, before)
    return model, ex, before


# -- construction and controls --------------------------------------------------------------
def test_tiny_constructs_with_a_grid_of_the_first_conv(tiny) -> None:
    model, ex, before = tiny
    assert ex.layer == ex.layers[0]
    assert ex.channel is None
    labels = [label for label, _ in ex._layer.options]
    shape = "x".join(str(s) for s in ex.activations[ex.layer].shape[1:])
    assert labels[0] == f"{ex.layer}  {shape}"
    img = _feature_image(ex)
    assert img.shape[:2] == _expected_grid_shape(ex)
    assert ex.error is None
    _unchanged(model, before)


def test_layer_filter_lists_convs_all_modules_and_graph_nodes(tiny) -> None:
    model, ex, before = tiny
    convs = list(ex.layers)
    assert convs and all(isinstance(model.get_submodule(k), nn.Conv2d) for k in convs)
    ex._filter.value = "all"
    assert len(ex.layers) > len(convs)
    assert ex.layers == list(ex.activations)  # execution order
    ex._filter.value = "nodes"
    nodes = ex.layers
    assert nodes and all(ex._data.has(n) for n in nodes)
    ex._filter.value = "conv"
    assert ex.layers == convs
    _unchanged(model, before)


def test_channel_options_match_every_layer(tiny) -> None:
    model, ex, before = tiny
    ex._filter.value = "all"
    for key in ex.layers:
        ex.layer = key
        view = ex._data.view(key)
        assert len(ex._channel.options) == view.channels + 2, key
        assert ex._channel.options[0] == ("all channels (grid)", "grid")
        assert ex._channel.options[1] == ("sum of channels", "sum")
        assert ex.error is None
    ex._filter.value = "conv"
    _unchanged(model, before)


def test_every_control_changes_the_picture(tiny) -> None:
    model, ex, before = tiny
    ex.layer = ex.layers[0]
    seen = [_feature_image(ex)]

    def changed() -> np.ndarray:
        img = _feature_image(ex)
        assert all(img.shape != old.shape or not np.array_equal(img, old) for old in seen[-1:])
        seen.append(img)
        _unchanged(model, before)
        return img

    ex.columns = 3
    assert changed().shape[:2] == _expected_grid_shape(ex)
    ex.normalization = "layer"
    changed()
    ex.colormap = "magma"
    changed()
    ex.order = "strongest"
    changed()
    ex.channel = 1
    single = changed()
    ex.channel = 2
    assert not np.array_equal(changed(), single)
    ex.channel = "sum"
    changed()
    ex.layer = ex.layers[1]
    changed()
    ex.channel, ex.columns, ex.order, ex.normalization = None, 8, "index", "channel"
    ex.colormap = "viridis"


def test_strongest_first_orders_channel_options_by_mean(tiny) -> None:
    _, ex, _ = tiny
    ex.order = "strongest"
    values = [v for _, v in ex._channel.options[2:]]
    means = ex._data.stats(ex.layer).means
    assert list(np.argsort(-means, kind="stable")) == values
    assert np.all(np.diff(means[values]) <= 0)
    ex.order = "index"
    assert [v for _, v in ex._channel.options[2:]] == list(range(len(values)))


def test_bad_values_raise_and_show_in_the_widget(tiny) -> None:
    model, ex, before = tiny
    good = ex.layer
    with pytest.raises(ValueError, match=f"Did you mean '{good}'"):
        ex.layer = good + "x"
    assert "unknown layer" in ex._message.value and ex.error is not None
    assert ex.layer == good
    with pytest.raises(ValueError, match="unknown layer 'nope'"):
        ex.layer = "nope"
    for attribute, value in [
        ("channel", 10_000),
        ("channel", "all"),
        ("columns", 0),
        ("normalization", "chanel"),
        ("colormap", "no_such_map"),
        ("page", 99),
        ("order", "random"),
    ]:
        with pytest.raises(ValueError):
            setattr(ex, attribute, value)
        assert ex.error is not None and ex._message.value
    ex.columns = 8  # a good change clears the message
    ex.columns = 7
    assert ex.error is None and ex._message.value == ""
    ex.columns = 8
    _unchanged(model, before)


def test_a_failing_render_is_shown_and_raised_not_swallowed(tiny, monkeypatch) -> None:
    _, ex, _ = tiny

    def boom(*args, **kwargs):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(render, "grid_png", boom)
    ex.channel = None
    with pytest.raises(RuntimeError, match="renderer exploded"):
        ex.columns = 5  # an observer: the error must come out of the trait assignment
    assert "renderer exploded" in ex._message.value
    monkeypatch.undo()
    ex.columns = 8
    assert ex.error is None


def test_vector_layer_shows_a_strip_and_unit_options(tiny) -> None:
    _, ex, _ = tiny
    vector_keys = [k for k in ex.activations if ex._data.view(k).kind == "vector"]
    assert vector_keys
    ex.layer = vector_keys[-1]
    assert len(ex._channel.options) == ex._data.view(ex.layer).channels + 2
    assert _feature_image(ex).size > 0
    ex.tab = "Overlay"
    assert "no spatial map" in ex.tabs["Overlay"].message.value
    ex.tab = "Feature maps"
    ex._filter.value = "conv"


def test_a_forward_only_for_a_layer_not_yet_captured() -> None:
    calls = []
    model = make_tiny_cnn()
    model.register_forward_pre_hook(lambda *_: calls.append(1))
    ex = LayerExplorer(model, CAT, size=48)
    assert len(calls) == 2  # the shapes survey, then the first layer (a stop-early capture)
    ex.columns, ex.normalization, ex.colormap = 4, "percentile", "gray"
    for title in ("Overlay", "Kernels", "Predictions", "Layers", "Feature maps"):
        ex.tab = title
    assert len(calls) == 2  # no forward per click
    ex._filter.value = "all"
    assert len(calls) == 2  # the first listed layer is the one already shown
    ex.layer = ex.layers[3]
    assert len(calls) == 3  # one forward for the new layer keeps every listed layer with it
    for key in ex.layers:
        ex.layer = key
    ex.columns = 5
    assert len(calls) == 3  # kept under the budget: every layer change draws from memory
    before = len(calls)
    ex.set_image(CAT[::-1])
    assert len(calls) == before + 2  # survey + the layer shown
    controls = [ex._layer, ex.maximizer.run_button, ex.tabs["Overlay"].opacity]
    ex.close()
    assert ex.comm is None and all(c.comm is None for c in controls)


# -- tabs ------------------------------------------------------------------------------------
def test_overlay_kernels_layers_and_predictions_tabs(tiny) -> None:
    model, ex, before = tiny
    first = ex.layers[0]
    ex.layer = first
    ex.tab = "Overlay"
    overlay = ex.tabs["Overlay"]
    assert _decode(overlay.image.value).shape == (384, 384, 3)  # the 64-px input, enlarged
    low = _decode(overlay.image.value)
    overlay.opacity.value = 0.9
    assert not np.array_equal(low, _decode(overlay.image.value))
    assert _decode(overlay.strip.value).shape[0] > 0 and "top" in overlay.strip_caption.value

    ex.tab = "Kernels"
    kernels = ex.tabs["Kernels"]
    weight = model.get_submodule(first).weight.detach().numpy()
    expected = render.kernels(weight, start=0, count=weight.shape[0], min_tile=32)
    assert np.array_equal(_decode(kernels.image.value), expected)
    assert "RGB" in kernels.caption.value
    ex.channel = 0
    assert _decode(kernels.image.value).shape != expected.shape
    ex.channel = None
    relu = next(k for k in ex.activations if "ReLU" in type(model.get_submodule(k)).__name__)
    ex.layer = relu
    assert "has no weights" in kernels.message.value
    assert kernels.png() is None

    ex.tab = "Layers"
    table = ex.tabs["Layers"].table  # rows as data: [key, layer, type, output, params]
    assert len(table.rows) == len(ex.activations)  # every call of every module
    assert table.row_keys() == list(ex.activations) and table.selected == relu
    ex.tab = "Predictions"
    assert "%" in ex.tabs["Predictions"].html.value
    ex.tab = "Feature maps"
    ex._filter.value = "conv"
    _unchanged(model, before)


def test_save_png_and_export_button(tiny, tmp_path) -> None:
    _, ex, _ = tiny
    path = ex.save_png(tmp_path / "view.png")
    assert np.array_equal(_decode(path.read_bytes()), _feature_image(ex))
    ex._export.click()
    assert "data:image/png;base64," in ex._download.value and "download" in ex._download.value


def test_set_image_recaptures_and_redraws(tiny) -> None:
    model, ex, before = tiny
    ex._filter.value = "conv"
    ex.layer, ex.channel = ex.layers[0], None
    old_act = ex.activations[ex.layer].clone()
    old_img = _feature_image(ex)
    ex.set_image(np.ascontiguousarray(CAT[:, ::-1]))
    assert not torch.equal(old_act, ex.activations[ex.layer])
    assert not np.array_equal(old_img, _feature_image(ex))
    _unchanged(model, before)


def test_keywords_layers_labels_and_device() -> None:
    model = make_tiny_cnn()
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    ex = LayerExplorer(model, CAT, size=48, layers=names[:1], labels=[f"c{i}" for i in range(99)])
    assert list(ex.activations) == names[:1]
    with pytest.raises(ValueError, match="not in layers="):
        ex.layer = names[-1] if len(names) > 1 else "zzz"
    with pytest.raises(ValueError, match="never moves your model"):
        LayerExplorer(model, CAT, size=48, device="meta")
    with pytest.raises(ValueError, match="unknown layer"):
        LayerExplorer(model, CAT, layers=["no_such"])
    with pytest.raises(TypeError):
        LayerExplorer("not a model", CAT)  # type: ignore[arg-type]


class _SignalAndVideo(nn.Module):
    """A Conv1d over the flattened pixels and a Conv3d over a 4-frame clip of the image."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1d = nn.Conv1d(3, 6, 3)
        self.conv3d = nn.Conv3d(3, 5, (2, 3, 3))
        self.head = nn.Linear(6 + 5, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        signal = self.conv1d(x.flatten(2))
        video = self.conv3d(x.unsqueeze(2).repeat(1, 1, 4, 1, 1))
        return self.head(torch.cat([signal.mean(-1), video.mean((2, 3, 4))], 1))


def test_conv1d_signals_and_conv3d_video_render() -> None:
    torch.manual_seed(0)
    model = _SignalAndVideo()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=32)
    assert ex.layers == ["conv1d", "conv3d"]
    for layer in ex.layers:
        ex.layer = layer
        grid = _feature_image(ex)
        ex.channel = 1
        one = _feature_image(ex)
        assert grid.shape != one.shape or not np.array_equal(grid, one)
        ex.tab = "Kernels"
        assert ex.tabs["Kernels"].png() is not None and ex.error is None
        ex.tab, ex.channel = "Feature maps", None
    ex.layer, ex.channel = "conv3d", 2  # [5, 3, 30, 30]: channel 2's chosen time step, large
    assert _feature_image(ex).shape[0] == _feature_image(ex).shape[1]
    assert "time step 1 of 3" in ex.tabs["Feature maps"].caption.value
    ex.frame = 2
    assert "time step 3 of 3" in ex.tabs["Feature maps"].caption.value
    _unchanged(model, before)


def test_graph_nodes_of_an_untraceable_model_fail_readably() -> None:
    model = UntraceableCNN()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=32)
    with pytest.raises(ValueError):
        ex._filter.value = "nodes"
    assert ex._filter.value == "conv" and ex.layers == ["conv"]
    assert ex.error is not None and ex._message.value
    assert ex.layer == "conv" and _feature_image(ex).size > 0
    _unchanged(model, before)


def test_a_model_that_fails_on_the_image_raises_with_context() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(10, 2))  # wrong width
    before = model_state(model)
    with pytest.raises(RuntimeError, match="forward failed"):
        LayerExplorer(model, CAT, size=32)
    _unchanged(model, before)


def test_set_image_errors_are_shown_and_raised(tiny) -> None:
    model, ex, before = tiny
    shown = _feature_image(ex)
    with pytest.raises((ValueError, TypeError)):
        ex.set_image(np.zeros((0, 5)))
    assert ex.error is not None and ex._message.value
    assert np.array_equal(shown, _feature_image(ex))  # the last good view stays
    ex.columns = 9  # the next good action clears the message
    assert ex.error is None
    ex.columns = 8
    _unchanged(model, before)


# -- torchvision architectures (random weights) --------------------------------------------
def _walk(ex: LayerExplorer, model: nn.Module, before: dict, keys: list[str]) -> None:
    for key in keys:
        ex.layer = key
        assert len(ex._channel.options) == ex._data.view(key).channels + 2
        if ex._data.view(key).kind == "maps":
            assert _feature_image(ex).shape[:2] == _expected_grid_shape(ex), key
        for title in ("Overlay", "Kernels", "Feature maps"):
            ex.tab = title
        _unchanged(model, before)


def test_resnet18_layers_pages_and_inplace_relu() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=128)
    assert ex.layer == "conv1"
    assert ex._layer.options[1][0].startswith("layer1.0.conv1  64x32x32")
    _walk(ex, model, before, ["layer1.0.conv1", "layer2.0.downsample.0", "layer4.1.conv2"])
    assert ex._page.max == 512 // MAX_PAGE and ex._page.layout.display is None
    first = _feature_image(ex)
    ex.page = 2
    assert not np.array_equal(first, _feature_image(ex))
    assert "channels 257-512 of 512" in ex.tabs["Feature maps"].caption.value
    ex.layer = "layer1.0.conv1"  # 64 channels: one page, the control hidden
    assert ex.page == 1 and ex._page.layout.display == "none"
    ex.layer = "bn1"  # captured before the in-place ReLU: negatives kept
    assert ex.activations["bn1"].min() < 0
    assert "% zeros" in ex.tabs["Feature maps"].caption.value
    ex.layer = "layer1.0.relu#2"
    assert ex.layer == "layer1.0.relu#2"
    _unchanged(model, before)


def test_mobilenet_v2_depthwise_kernels_and_graph_nodes() -> None:
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=128)
    _walk(ex, model, before, ["features.0.0", "features.2.conv.1.0", "features.17.conv.2"])
    ex.layer = "features.2.conv.1.0"  # depthwise: weight [96, 1, 3, 3]
    ex.tab = "Kernels"
    assert "96x1x3x3" in ex.tabs["Kernels"].caption.value
    ex.tab = "Feature maps"
    ex.layer = "features.3.add"  # a residual add: an FX node, found and listed on demand
    assert ex._filter.value == "nodes" and "features.3.add" in ex.layers
    assert ex.layers[0] == "x" and ex.error is None  # the input placeholder leads the graph
    view = ex._data.view("features.3.add")
    assert view.maps.shape == (24, 32, 32) and _feature_image(ex).shape[:2] == _expected_grid_shape(
        ex
    )
    ex.tab = "Kernels"
    assert "no weights" in ex.tabs["Kernels"].message.value
    ex.tab = "Feature maps"
    _unchanged(model, before)


# -- maximize ----------------------------------------------------------------------------------
def _maximizer(ex: LayerExplorer, steps: int, size: int = 64):
    tab = ex.maximizer
    ex.tab = "Maximize"
    tab.steps.value, tab.size.value, tab.preset.value = steps, size, "lucid"
    return tab


def test_maximize_tab_runs_in_a_thread_and_caches(tiny) -> None:
    model, ex, before = tiny
    ex._filter.value = "conv"
    ex.layer, ex.channel = ex.layers[-1], 1
    tab = _maximizer(ex, steps=8)
    assert "press Run" in tab.status.value
    gate, seen = threading.Event(), []
    original = tab._on_step

    def on_step(step, value, preview):  # hold the worker at step 4 while the test looks
        original(step, value, preview)
        seen.append(preview is not None)
        if step == 4:
            gate.wait(30)

    tab._on_step = on_step
    tab.run()
    deadline = time.monotonic() + 30
    while len(seen) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tab.running and tab.progress.value == 4 and "step 4/8" in tab.status.value
    assert tab.run_button.disabled and not tab.cancel_button.disabled
    assert all(c.disabled for c in (tab.steps, tab.size, tab.preset, tab.seed, tab.mode))
    gate.set()
    result = ex.wait(60)
    del tab._on_step
    assert any(seen)  # a live preview arrived
    assert not result.cancelled and result.steps == 8 and len(result.history) == 8
    assert tab.progress.value == 8 and not tab.run_button.disabled and tab.cancel_button.disabled
    assert not any(c.disabled for c in (tab.steps, tab.size, tab.preset, tab.seed, tab.mode))
    assert _decode(tab.image.value).shape == (256, 256, 3)  # 64 px shown 4x, crisp
    assert np.array_equal(_decode(tab.image.value)[::4, ::4], result.images[0])
    assert "done" in tab.status.value
    _unchanged(model, before)
    start = time.perf_counter()
    tab.run()  # cached: no thread, shown at once
    assert not tab.running and time.perf_counter() - start < 0.2 and "cached" in tab.status.value
    ex.channel = 2  # another target: nothing cached for it
    assert "press Run" in tab.status.value and tab.png() is None
    ex.channel = 1
    assert "cached" in tab.status.value and tab.png() is not None


def test_maximize_first_n_channels_sheet(tiny) -> None:
    model, ex, before = tiny
    ex.layer = ex.layers[0]
    tab = _maximizer(ex, steps=4)
    tab.mode.value, tab.count.value = "first", 4
    tab.run()
    result = ex.wait(60)
    assert len(result.images) == 4
    side = 2 * 64 + 2  # 2x2 sheet with a 2 px separator
    shown = _decode(tab.image.value)
    # The first conv's 4 kernels stand beside the sheet (a 2x2 grid of upsampled 3x3 kernels).
    assert shown.shape[0] == side and shown.shape[1] > side + 4
    assert np.array_equal(shown[:, :side], render.tile_rgb(result.images, cols=2))
    tab.mode.value = "channel"
    _unchanged(model, before)


def _fresh_tiny() -> tuple[nn.Module, LayerExplorer, object]:
    """A tiny CNN in an explorer nobody has touched yet (the shared ``tiny`` one has been)."""
    model = make_tiny_cnn()
    return model, LayerExplorer(model, CAT, size=64), model_state(model)


def test_maximize_moves_a_default_layer_that_sees_too_little_and_names_the_channel() -> None:
    model, ex, before = _fresh_tiny()
    assert ex.layer == "conv1" and ex.channel is None  # the explorer's own start: the grid
    tab = _maximizer(ex, steps=4)
    strongest = int(ex._data.stats("conv2").strongest[0])
    assert "conv1 sees 3x3 pixels; showing conv2, pick a layer to override" in tab.why.value
    expected = f"press Run to maximize conv2 channel {strongest} (strongest on this image)"
    assert expected in html.unescape(tab.status.value)
    tab.run()
    result = ex.wait(60)
    assert f"done: conv2 channel {strongest} (strongest" in html.unescape(tab.status.value)
    shown = _decode(tab.image.value)
    scale = shown.shape[0] // 64
    # The picture, then conv1's 8 kernels upsampled beside it (what conv1 itself would want).
    assert shown.shape[1] > shown.shape[0]
    assert np.array_equal(shown[: 64 * scale : scale, : 64 * scale : scale], result.images[0])
    _unchanged(model, before)
    ex.close()


def test_maximize_keeps_a_layer_or_channel_the_user_picked() -> None:
    model, ex, before = _fresh_tiny()
    tab = _maximizer(ex, steps=4)
    ex.channel = 3  # a channel of conv1, picked: conv1 it is
    assert tab.why.value == ""
    assert "press Run to maximize conv1 channel 3 " in html.unescape(tab.status.value)
    ex.channel = None
    assert "showing conv2" in tab.why.value
    ex.layer = "conv2"
    ex.layer = "conv1"  # picked from the list: the user's choice wins from now on
    strongest = int(ex._data.stats("conv1").strongest[0])
    assert tab.why.value == ""
    expected = f"press Run to maximize conv1 channel {strongest} (strongest on this image)"
    assert expected in html.unescape(tab.status.value)
    tab.run()
    ex.wait(60)
    assert f"done: conv1 channel {strongest}" in html.unescape(tab.status.value)
    _unchanged(model, before)
    ex.close()


def test_maximize_cancel_stops_within_a_step(tiny) -> None:
    model, ex, before = tiny
    tab = _maximizer(ex, steps=5000, size=96)
    stepped = threading.Event()
    original = tab._on_step

    def on_step(step, value, preview):
        original(step, value, preview)
        stepped.set()

    tab._on_step = on_step
    tab.run()
    assert stepped.wait(30)
    ex.layer, ex.columns = ex.layers[0], 5  # the explorer stays usable while the worker runs
    assert ex.error is None and tab.running
    ex.columns = 8
    tab.cancel_button.click()
    result = ex.wait(30)
    assert result.cancelled and result.steps < 5000
    assert "cancelled" in tab.status.value and not tab.run_button.disabled
    del tab._on_step
    _unchanged(model, before)


def test_maximize_explains_targets_it_cannot_run() -> None:
    torch.manual_seed(0)
    model = _TinyNet()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=48)
    tab = _maximizer(ex, steps=4)
    ex._filter.value = "nodes"
    ex.layer = next(n for n in ex.layers if n.endswith("add"))  # a functional node, no module
    assert "not a module output" in tab.status.value
    with pytest.raises(ValueError, match="not a module output"):
        tab.run()  # refused: shown in the tab, raised to the caller, nothing started
    assert not tab.running and "not a module output" in tab.status.value
    _unchanged(model, before)


def test_maximize_error_is_shown_in_the_tab_and_raised_by_wait(tiny, monkeypatch) -> None:
    model, ex, before = tiny
    tab = _maximizer(ex, steps=4)
    ex._filter.value = "conv"
    ex.layer = ex.layers[0]
    monkeypatch.setattr(type(model), "forward", lambda self, x: 1 / 0)
    tab.seed.value = 7  # a fresh job, nothing cached
    tab.run()
    with pytest.raises((ZeroDivisionError, ValueError), match="division by zero"):
        ex.wait(30)  # the model's own error (optvis may wrap it after trying another size)
    assert "maximize failed" in tab.status.value and "ZeroDivisionError" in tab.status.value
    assert not tab.run_button.disabled
    monkeypatch.undo()
    ex.set_image(CAT)  # a failed run does not poison later calls
    assert ex.error is None
    _unchanged(model, before)


def test_maximize_class_target_with_classic_preset(tiny) -> None:
    model, ex, before = tiny
    tab = _maximizer(ex, steps=4)
    tab.mode.value = "class"
    assert len(tab.klass.options) == ex._data.class_vector().shape[0]
    tab.klass.value, tab.preset.value, tab.seed.value = 3, "classic", 3
    tab.run()
    result = ex.wait(60)
    assert result.steps == 4 and "class 3" in tab.status.value
    ex.layer = ex.layers[-1]  # a class target ignores the layer: the cached picture stays
    assert "cached" in tab.status.value and tab.png() is not None
    tab.mode.value, tab.preset.value, tab.seed.value = "channel", "lucid", 0
    _unchanged(model, before)


# -- the real MobileNetV2 ----------------------------------------------------------------------
@pytest.mark.pretrained
def test_predictions_tab_names_the_cat_with_real_mobilenet_v2() -> None:
    weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
    model = torchvision.models.mobilenet_v2(weights=weights)
    before = model_state(model)
    ex = LayerExplorer(model, CAT, weights=weights)
    ex.tab = "Predictions"
    top = top_predictions(ex._data)
    assert top[0][1] == "Egyptian cat"
    html = ex.tabs["Predictions"].html.value
    assert html.index("Egyptian cat") < html.index("%")
    _unchanged(model, before)


# -- fixes: closing, huge matrices, fixed input sizes ------------------------------------------
def test_close_closes_every_widget_the_explorer_built() -> None:
    # ipywidgets 8 keeps open widgets in this registry (Widget.widgets is its deprecated alias);
    # close() drops a widget from it and sets its comm to None.
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    ex = LayerExplorer(make_tiny_cnn(), CAT, size=32)
    created = {key: _instances[key] for key in set(_instances) - before}
    kinds = {type(widget).__name__ for widget in created.values()}
    assert len(created) > 100 and {"Layout", "SliderStyle", "Picture", "Dropdown"} <= kinds
    ex.close()
    assert [type(x).__name__ for x in created.values() if x.comm is not None] == []
    assert not set(_instances) & set(created)


class _WideOneByOne(nn.Module):
    """A 600-channel 1x1 conv (three grid pages) and a Linear of 1.2 M weights."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 600, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(600, 2000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.conv(x)), 1))


def test_kernels_tab_pages_a_1x1_conv_and_caps_a_huge_linear() -> None:
    from featviz_widgets.widgets.tabs.kernels import MATRIX_PIXELS

    torch.manual_seed(0)
    model = _WideOneByOne()
    ex = LayerExplorer(model, CAT, size=16)
    ex.layer, ex.tab = "conv", "Kernels"
    tab, weight = ex.tabs["Kernels"], model.conv.weight.detach().numpy()
    assert ex._page.max == 3 and "rows 1-200 of 600" in tab.caption.value
    first = _decode(tab.image.value)
    ex.page = 2
    assert "rows 201-400 of 600" in tab.caption.value
    expected = render.kernels(weight, start=200, count=200, max_pixels=MATRIX_PIXELS)
    assert np.array_equal(_decode(tab.image.value), expected)
    assert not np.array_equal(_decode(tab.image.value), first)
    ex.layer = "fc"  # 2000 x 600 = 1.2 M weights: drawn as 2 x 2 block means
    assert _decode(tab.image.value).shape == (1000, 300, 3)
    assert "mean of 2x2 weights" in tab.caption.value and "of 2000" in tab.caption.value
    ex.close()


def test_maximize_runs_any_size_on_a_vit_that_takes_one() -> None:
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(
        image_size=32, patch_size=16, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32,
        num_classes=5,
    )  # fmt: skip
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=32)
    ex.layer = "conv_proj"
    tab = _maximizer(ex, steps=2, size=64)  # the picture's size: resized to 32 for the model
    assert tab.size.options == SIZES and tab.size.value == 64
    assert "32x32 images only" in tab.size_note.value and "resized" in tab.size_note.value
    assert ex.maximizer.run() is None and ex.wait(60).images[0].shape == (64, 64, 3)
    assert "done" in tab.status.value  # the first click, with the random-jitter preset
    _unchanged(model, before)
    ex.close()


def test_maximize_runs_a_size_the_model_rejects_at_the_explorer_size() -> None:
    torch.manual_seed(0)
    model = FixedSizeCNN()  # declares no size, and its Linear head takes 32x32 inputs only
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=32)
    ex.layer = "conv"
    tab = _maximizer(ex, steps=2, size=96)
    tab.run()  # one probe forward says no to 96: the first click runs at 32 and says why
    assert ex.wait(60).images[0].shape == (32, 32, 3) and "done" in tab.status.value
    assert tab.size.options == (32,) and tab.size.value == 32
    assert "does not accept 96x96 images" in tab.size_note.value
    assert "offers 32px" in tab.size_note.value
    _unchanged(model, before)
    ex.close()


def test_a_failed_construction_closes_what_it_built() -> None:
    """A half-built explorer must not stay registered (open comms, noise from __del__ later)."""
    from ipywidgets.widgets.widget import _instances

    model = make_tiny_cnn()
    before = set(_instances)
    with pytest.raises(ValueError, match="not found"):
        LayerExplorer(model, "no-such-photo.jpg")
    with pytest.raises(ValueError, match="unknown layer"):
        LayerExplorer(model, CAT, size=64, layers=["conv1", "nope"])
    assert set(_instances) - before == set()


# -- the model owner and the memory budget (one owner for the model) --------------------------
@pytest.fixture
def capture_spy(monkeypatch) -> list[tuple[list[str], bool]]:
    """Every capture the data layer asks the engine for: (names, stop_early)."""
    from featviz_widgets.widgets import _data

    asked: list[tuple[list[str], bool]] = []
    real = _data.capture

    def spy(model, x, layers, **kwargs):
        asked.append((list(layers), kwargs.get("stop_early", True)))
        return real(model, x, layers, **kwargs)

    monkeypatch.setattr(_data, "capture", spy)
    return asked


@pytest.fixture
def restore_budget():
    """Lets a test change the process-wide memory budget; puts the old one back afterwards."""
    old = engine.memory_budget()
    try:
        yield engine.set_memory_budget
    finally:
        engine.set_memory_budget(old)


def _held_since(base: int) -> int:
    return engine.memory_in_use() - base


def test_construction_surveys_shapes_and_captures_only_the_first_layer(capture_spy) -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    gc.collect()  # caches of explorers collected now cannot free bytes during the measure
    base = engine.memory_in_use()
    ex = LayerExplorer(model, CAT, size=64)
    assert capture_spy == [(["conv1"], True)]  # one stop-early capture, of the first layer only
    assert len(ex.activations) == len(ex._data.shapes) > 60  # every output listed, from shapes
    first = ex._data.entries(["conv1"])["conv1"].nbytes
    held = _held_since(base)
    assert first <= held < first + 100_000  # the first layer (and its picture), nothing else
    every = sum(4 * int(np.prod(shape)) for shape in ex._data.shapes.values())
    assert held < every / 5  # conv1, the largest output, is a tenth of them all
    labels = dict((key, label) for label, key in ex._layer.options)
    assert labels["layer1.0.conv1"] == "layer1.0.conv1  64x16x16"  # labels from shapes
    ex.close()
    assert _held_since(base) == 0  # close frees the explorer's activations and pictures


def test_two_explorers_under_a_tiny_budget_evict_each_other_and_draw_the_same(
    capture_spy, restore_budget
) -> None:
    a = LayerExplorer(make_tiny_cnn(), CAT, size=48)
    b = LayerExplorer(make_tiny_cnn(seed=1), np.ascontiguousarray(CAT[::-1]), size=48)
    try:
        pictures = {}
        for ex in (a, b):
            for layer in ex.layers:
                ex.layer = layer
                pictures[id(ex), layer] = ex.tabs["Feature maps"].image.value
        restore_budget("100 KiB")  # less than both explorers' layers together
        assert engine.memory_in_use() <= engine.memory_budget()
        before = len(capture_spy)
        for _ in range(2):
            for ex in (a, b):
                for layer in ex.layers:
                    ex.layer = layer  # evicted by the other explorer: captured again
                    assert ex.tabs["Feature maps"].image.value == pictures[id(ex), layer]
                    assert ex.error is None
                    assert engine.memory_in_use() <= engine.memory_budget()
        recaptured = capture_spy[before:]
        assert len(recaptured) >= 2 * (len(a.layers) + len(b.layers))
        assert all(stop for _, stop in recaptured)  # each one a stop-early forward
        conv = a.layers[-1]
        expected = engine.capture(a._data.model, a._data.prepared.batch, [conv])[conv]
        assert torch.equal(a.activations[conv], expected)  # an old explorer keeps working
    finally:
        a.close()
        b.close()


def test_graph_nodes_are_surveyed_then_captured_one_at_a_time(capture_spy) -> None:
    torch.manual_seed(0)
    model = _TinyNet()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=48)
    capture_spy.clear()
    ex._filter.value = "nodes"  # the list and its shapes: a trace and a shapes-only pass
    assert capture_spy == [] and ex.layer == "conv1"  # still shown, nothing captured
    gc.collect()
    base = engine.memory_in_use()
    ex.layer = "add"
    assert capture_spy == [(["add"], True)]
    held = _held_since(base)
    entry = ex._data.entries(["add"])["add"]
    assert entry.nbytes <= held  # kept in the explorer's budget, like a module output
    batch = ex._data.prepared.batch
    expected = engine.capture(model, batch, ["add"])["add"]
    assert torch.equal(ex._data.tensor("add"), expected)
    assert np.array_equal(entry.view.maps, expected[0].numpy())
    captured = engine.capture(model, batch, ex.layers)  # modules among them add "relu#2"...
    assert ex._data.node_shapes == {k: tuple(captured[k].shape) for k in ex.layers}
    ex.layer = "add"
    assert len(capture_spy) == 1  # shown again from the budget
    ex._filter.value = "conv"
    _unchanged(model, before)
    ex.close()


def test_a_click_while_a_job_holds_the_model_shows_model_busy(monkeypatch) -> None:
    monkeypatch.setattr(engine.owner, "WIDGET_WAIT_S", 0.2)
    model = make_tiny_cnn()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=32)
    owner = engine.owner_for(model)
    inside, release = threading.Event(), threading.Event()

    def job() -> None:  # a background job in the middle of a long step
        with owner.running("Maximize"), owner.using():
            inside.set()
            release.wait(30)

    worker = threading.Thread(target=job)
    worker.start()
    try:
        assert inside.wait(30)
        with pytest.raises(engine.ModelBusy, match="Maximize is running: Cancel it or wait"):
            ex.layer = "conv2"  # never captured: it needs the model
        assert ex.error.startswith("ModelBusy: Maximize is running")
        assert "Maximize is running" in ex._message.value
        assert ex.layer == "conv1" and _feature_image(ex).size > 0  # the last good view stays
        ex.columns = 3  # needs no model: works, and clears the message
        assert ex.error is None
    finally:
        release.set()
        worker.join()
    ex.layer = "conv2"
    assert ex.error is None and ex.layer == "conv2"
    _unchanged(model, before)
    ex.close()


def test_maximize_job_names_itself_and_set_image_stops_it(monkeypatch) -> None:
    monkeypatch.setattr(engine.owner, "WIDGET_WAIT_S", 0.2)
    model = make_tiny_cnn()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=32)
    in_step, release = threading.Event(), threading.Event()

    def slow_step(*_):  # the test's own hook: holds optvis inside a step (grad enabled)
        if torch.is_grad_enabled():
            in_step.set()
            release.wait(30)

    handle = model.register_forward_pre_hook(slow_step)
    try:
        ex.channel = 0  # this channel of conv1, as picked: conv2 stays uncaptured
        tab = _maximizer(ex, steps=500, size=64)
        tab.run()
        assert in_step.wait(30) and tab.running
        with pytest.raises(engine.ModelBusy, match="Maximize is running"):
            ex.layer = "conv2"
        assert "Maximize is running" in ex.error
        release.set()
        ex.set_image(np.ascontiguousarray(CAT[:, ::-1]))  # stops the job first
        assert not tab.running and tab.wait(10).cancelled and ex.error is None
    finally:
        release.set()
        handle.remove()
        ex.close()
    _unchanged(model, before)


def test_activations_is_a_read_only_mapping_that_captures_on_access(tiny) -> None:
    model, ex, _ = tiny
    acts = ex.activations
    assert isinstance(acts, Mapping) and not isinstance(acts, MutableMapping)
    assert list(acts) == list(ex._data.shapes) and len(acts) == len(ex._data.shapes)
    batch = ex._data.prepared.batch
    assert torch.equal(acts["conv2"], engine.capture(model, batch, ["conv2"])["conv2"])
    assert "conv2" in acts and "nope" not in acts
    with pytest.raises(KeyError):
        acts["nope"]


# -- tabs by name, jobs ------------------------------------------------------------------------
def test_tabs_come_from_a_registry_and_are_looked_up_by_name(tiny) -> None:
    _, ex, _ = tiny
    assert [cls.name for cls in TABS] == [
        "maps", "overlay", "kernels", "maximize", "examples", "predictions", "layers",
    ]  # fmt: skip
    # The Examples tab needs a dataset= (tests/test_widgets_examples.py): left out without one.
    assert list(ex.tabs) == [cls.title for cls in TABS if cls.name != "examples"]
    assert ex.maximizer is ex.tab_object("maximize") and ex.tabs["Maximize"] is ex.maximizer
    with pytest.raises(ValueError, match="Did you mean 'maximize'"):
        ex.tab_object("maximise")
    with pytest.raises(ValueError, match="unique name"):
        build_tabs(ex.tab_object("maps").ctx, (TABS[0], TABS[0]))


def test_a_tab_never_imports_another_tab() -> None:
    import featviz_widgets.widgets.tabs as tabs_package

    folder = Path(tabs_package.__file__).parent
    for path in folder.glob("*.py"):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
                if module.startswith("featviz_widgets.widgets.tabs."):
                    assert module.endswith("._base"), f"{path.name} imports {module}"


def test_job_runner_runs_reports_caches_and_reraises() -> None:
    runner = JobRunner("Work", cache_if=lambda result: 8)
    steps = []
    assert runner.submit(
        "job", lambda cancel, progress: [progress(i) for i in range(3)] and 42,
        owner=None, on_progress=steps.append,
    )  # fmt: skip
    assert runner.wait(10) == 42 and steps == [0, 1, 2]
    assert runner.cached("job") == 42
    assert not runner.submit("job", lambda cancel, progress: 0, owner=None)  # the cache answers
    assert runner.wait(10) == 42
    finished = []
    runner.submit(
        "bad", lambda cancel, progress: 1 / 0, owner=None,
        on_finish=lambda job, result, error: finished.append((job, type(error).__name__)),
    )  # fmt: skip
    with pytest.raises(ZeroDivisionError):
        runner.wait(10)
    assert finished == [("bad", "ZeroDivisionError")] and runner.cached("bad") is None
    runner.close()
    assert runner.cached("job") is None


def test_job_runner_cancel_stop_and_its_deadlock_guard(tiny_cnn) -> None:
    owner = engine.owner_for(tiny_cnn)
    started = threading.Event()
    seen_job = []

    def work(cancel: threading.Event, progress) -> str:
        seen_job.append(owner.job)
        started.set()
        while not cancel.is_set():
            with owner.using():  # a step holds the model, between steps it is free
                time.sleep(0.001)
        return "cancelled"

    runner = JobRunner("Maximize")
    runner.submit("long", work, owner=owner)
    assert started.wait(10) and runner.running and seen_job == ["Maximize"]
    with pytest.raises(TimeoutError):
        runner.wait(0.05)
    with owner.using(), pytest.raises(RuntimeError, match="deadlock"):
        runner.stop()  # joining while holding the model would hang: refused
    runner.stop()
    assert not runner.running and runner.wait() == "cancelled" and owner.job is None
