"""LayerExplorer on other inputs and architectures: signals, video, untraceable and failing models,
torchvision ResNet-18 and MobileNetV2 (random weights), and the real pretrained MobileNetV2.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from support import (
    UntraceableCNN,
    model_state,
)
from torch import nn
from widgets_support import (
    CAT,
    expected_grid_shape,
    feature_image,
    tiny_explorer,
    unchanged,
)

from featviz_widgets.widgets import LayerExplorer
from featviz_widgets.widgets._options import MAX_PAGE
from featviz_widgets.widgets.tabs.predictions import top_predictions


@pytest.fixture(scope="module")
def tiny() -> tuple[nn.Module, LayerExplorer, dict]:
    return tiny_explorer()


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
        grid = feature_image(ex)
        ex.channel = 1
        one = feature_image(ex)
        assert grid.shape != one.shape or not np.array_equal(grid, one)
        ex.tab = "Kernels"
        assert ex.tab_object("kernels").png() is not None and ex.error is None
        ex.tab, ex.channel = "Feature maps", None
    ex.layer, ex.channel = "conv3d", 2  # [5, 3, 30, 30]: channel 2's chosen time step, large
    assert feature_image(ex).shape[0] == feature_image(ex).shape[1]
    assert "time step 1 of 3" in ex.tab_object("maps").caption.value
    ex.frame = 2
    assert "time step 3 of 3" in ex.tab_object("maps").caption.value
    unchanged(model, before)


def test_graph_nodes_of_an_untraceable_model_fail_readably() -> None:
    model = UntraceableCNN()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=32)
    with pytest.raises(ValueError):
        ex._panel.filter.value = "nodes"
    assert ex._panel.filter.value == "conv" and ex.layers == ["conv"]
    assert ex.error is not None and ex._message.widget.value
    assert ex.layer == "conv" and feature_image(ex).size > 0
    unchanged(model, before)


def test_a_model_that_fails_on_the_image_raises_with_context() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(10, 2))  # wrong width
    before = model_state(model)
    with pytest.raises(RuntimeError, match="forward failed"):
        LayerExplorer(model, CAT, size=32)
    unchanged(model, before)


def test_set_image_errors_are_shown_and_raised(tiny) -> None:
    model, ex, before = tiny
    shown = feature_image(ex)
    with pytest.raises((ValueError, TypeError)):
        ex.set_image(np.zeros((0, 5)))
    assert ex.error is not None and ex._message.widget.value
    assert np.array_equal(shown, feature_image(ex))  # the last good view stays
    ex.columns = 9  # the next good action clears the message
    assert ex.error is None
    ex.columns = 8
    unchanged(model, before)


# -- torchvision architectures (random weights) --------------------------------------------
def _walk(ex: LayerExplorer, model: nn.Module, before: dict, keys: list[str]) -> None:
    for key in keys:
        ex.layer = key
        assert len(ex._panel.channel.options) == ex._data.view(key).channels + 2
        if ex._data.view(key).kind == "maps":
            assert feature_image(ex).shape[:2] == expected_grid_shape(ex), key
        for title in ("Overlay", "Kernels", "Feature maps"):
            ex.tab = title
        unchanged(model, before)


def test_resnet18_layers_pages_and_inplace_relu() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=128)
    assert ex.layer == "conv1"
    assert ex._panel.layer.options[1][0].startswith("layer1.0.conv1  64x32x32")
    _walk(ex, model, before, ["layer1.0.conv1", "layer2.0.downsample.0", "layer4.1.conv2"])
    assert ex._panel.page.max == 512 // MAX_PAGE and ex._panel.page.layout.display is None
    first = feature_image(ex)
    ex.page = 2
    assert not np.array_equal(first, feature_image(ex))
    assert "channels 257-512 of 512" in ex.tab_object("maps").caption.value
    ex.layer = "layer1.0.conv1"  # 64 channels: one page, the control hidden
    assert ex.page == 1 and ex._panel.page.layout.display == "none"
    ex.layer = "bn1"  # captured before the in-place ReLU: negatives kept
    assert ex.activations["bn1"].min() < 0
    assert "% zeros" in ex.tab_object("maps").caption.value
    ex.layer = "layer1.0.relu#2"
    assert ex.layer == "layer1.0.relu#2"
    unchanged(model, before)


def test_mobilenet_v2_depthwise_kernels_and_graph_nodes() -> None:
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=128)
    _walk(ex, model, before, ["features.0.0", "features.2.conv.1.0", "features.17.conv.2"])
    ex.layer = "features.2.conv.1.0"  # depthwise: weight [96, 1, 3, 3]
    ex.tab = "Kernels"
    assert "96x1x3x3" in ex.tab_object("kernels").caption.value
    ex.tab = "Feature maps"
    ex.layer = "features.3.add"  # a residual add: an FX node, found and listed on demand
    assert ex._panel.filter.value == "nodes" and "features.3.add" in ex.layers
    assert ex.layers[0] == "x" and ex.error is None  # the input placeholder leads the graph
    view = ex._data.view("features.3.add")
    assert view.maps.shape == (24, 32, 32) and feature_image(ex).shape[:2] == expected_grid_shape(
        ex
    )
    ex.tab = "Kernels"
    assert "no weights" in ex.tab_object("kernels").message.value
    ex.tab = "Feature maps"
    unchanged(model, before)


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
    html = ex.tab_object("predictions").html.value
    assert html.index("Egyptian cat") < html.index("%")
    unchanged(model, before)
