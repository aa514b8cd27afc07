"""Receptive fields (engine.receptive): the probe and the graph arithmetic against hand-computed boxes."""

from __future__ import annotations

import pytest
import torch
import torchvision
from support import assert_model_unchanged, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets.engine import owner_for, receptive_field

# Hand-computed with rf += (kernel - 1) * dilation * jump, jump *= stride, from the input up.
MOBILENET_V2 = {
    "features.0.0": 3,  # 3x3 stride 2
    "features.0.2": 3,
    "features.1": 7,  # depthwise 3x3 at jump 2
    "features.2": 11,  # depthwise 3x3 stride 2 at jump 2
    "features.3": 19,  # depthwise 3x3 at jump 4
    "features.4": 27,
}
RESNET_18 = {"conv1": 7, "maxpool": 11, "layer1.0.conv1": 19, "layer1.0": 27, "layer1": 43}


@pytest.fixture(scope="module")
def mobilenet() -> nn.Module:
    return torchvision.models.mobilenet_v2()


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    return torchvision.models.resnet18()


@pytest.mark.parametrize("method", ["probe", "graph"])
def test_cnn_fields_match_the_textbook_recurrence(mobilenet, resnet, method: str) -> None:
    for model, expected in ((mobilenet, MOBILENET_V2), (resnet, RESNET_18)):
        for layer, side in expected.items():
            field = receptive_field(model, layer, 128, method=method)
            assert field.size == (side, side), (layer, method, field)
            assert field.input_size == (128, 128) and field.fraction == side / 128


@pytest.mark.parametrize("method", ["probe", "graph"])
def test_deep_layers_and_vit_tokens_see_the_whole_image(mobilenet, method: str) -> None:
    assert receptive_field(mobilenet, "features.12", 96, method=method).fraction == 1.0
    vit = torchvision.models.VisionTransformer(
        image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64
    )
    token = receptive_field(vit, "encoder.layers.encoder_layer_0", 64, method=method,
                            channel_axis=-1)  # fmt: skip
    assert token.size == (64, 64)
    assert receptive_field(vit, "conv_proj", 64, method=method).size == (16, 16)


def test_fields_are_cached_in_the_owner_and_leave_the_model_as_it_was() -> None:
    model = make_tiny_cnn().train()
    before = model_state(model)
    field = receptive_field(model, "conv2", 32)
    assert field.size == (8, 8) and receptive_field(model, "conv2", 32) is field
    assert any(key[0] == "receptive_field" for key in owner_for(model).memo)
    assert_model_unchanged(model, before)


def test_bad_requests_are_clear_errors(mobilenet) -> None:
    with pytest.raises(ValueError, match="method must be"):
        receptive_field(mobilenet, "features.1", 64, method="guess")
    with pytest.raises(ValueError, match="not a module"):
        receptive_field(mobilenet, "features.99", 64)

    class Untraceable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) if x.sum() > -1e9 else x  # data-dependent: fx cannot trace it

    with pytest.raises(ValueError, match="method='probe'"):
        receptive_field(Untraceable(), "conv", 32, method="graph")
    assert receptive_field(Untraceable(), "conv", 32).size == (3, 3)
