"""The receptive-field rule (optvis.targets): which layer Maximize optimizes, and the user's override."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from featviz_widgets.engine import list_layers
from featviz_widgets.optvis.targets import MIN_FRACTION, layer_to_maximize


def _maps(model: nn.Module, size: int) -> list[str]:
    """Module outputs with channel maps or tokens, in execution order (what the widget offers)."""
    infos = list_layers(model, torch.randn(1, 3, size, size))
    return [i.name for i in infos if i.shapes and len(i.shapes[0]) >= 3]


@pytest.fixture(scope="module")
def mobilenet() -> tuple[nn.Module, list[str]]:
    model = torchvision.models.mobilenet_v2().eval()
    return model, _maps(model, 128)


@pytest.mark.parametrize(
    ("layer", "size", "expected", "seen"),
    [
        ("features.0.0", 128, "features.3", "3x3"),  # 19 px >= 128 / 8
        ("features.0.2", 128, "features.3", "3x3"),
        ("features.1", 128, "features.3", "7x7"),
        ("features.0.0", 224, "features.5", "3x3"),  # 43 px >= 28; features.4 sees 27
        ("features.3.conv.0.0", 128, "features.3.conv.1", "11x11"),  # the block, not its conv
    ],
)
def test_mobilenet_v2_small_layers_fall_back_to_the_nearest_block_that_sees_enough(
    mobilenet, layer: str, size: int, expected: str, seen: str
) -> None:
    model, names = mobilenet
    choice = layer_to_maximize(model, layer, size, names)
    assert choice.moved and choice.layer == expected and choice.asked == layer
    assert choice.field.fraction >= MIN_FRACTION
    assert choice.reason == (
        f"{layer} sees {seen} pixels; showing {expected}, pick a layer to override"
    )


@pytest.mark.parametrize("layer", ["features.3", "features.9", "features.18"])
def test_mobilenet_v2_layers_that_see_enough_stay(mobilenet, layer: str) -> None:
    model, names = mobilenet
    choice = layer_to_maximize(model, layer, 128, names)
    assert not choice.moved and choice.layer == layer and choice.reason == ""


def test_resnet18_stem_falls_back_to_layer1_and_layer1_convs_stay() -> None:
    model = torchvision.models.resnet18().eval()
    names = _maps(model, 128)
    for layer in ("conv1", "bn1", "relu", "maxpool"):
        choice = layer_to_maximize(model, layer, 128, names)
        assert choice.layer == "layer1" and choice.field.size == (43, 43), layer
    assert not layer_to_maximize(model, "layer1.0.conv1", 128, names).moved  # 19 >= 16
    assert layer_to_maximize(model, "layer1.0.conv1", 224, names).layer == "layer1.1"


def test_vit_tokens_see_the_whole_image_so_nothing_moves() -> None:
    model = torchvision.models.VisionTransformer(
        image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64
    ).eval()
    names = _maps(model, 64)
    axes = {name: -1 for name in names if name.startswith("encoder")}
    for layer in ("encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"):
        choice = layer_to_maximize(model, layer, 64, names, channel_axes=axes)
        assert not choice.moved and choice.field.fraction == 1.0


def test_the_users_explicit_choice_always_wins(mobilenet) -> None:
    model, names = mobilenet
    choice = layer_to_maximize(model, "features.0.0", 128, names, explicit=True)
    assert not choice.moved and choice.layer == "features.0.0" and choice.reason == ""
    assert choice.field.size == (3, 3)  # still measured, for whoever wants to say so


def test_a_layer_outside_the_candidates_is_kept(mobilenet) -> None:
    model, _ = mobilenet
    assert layer_to_maximize(model, "features.0.0", 128, ["features.0.0"]).layer == "features.0.0"
