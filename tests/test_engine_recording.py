"""The engine's recording API (Recording), layouts, the one layer check and the default input side.

References: ``capture`` and the model's own forward for values, autograd through the plain model
for gradients, ``layout.layout_hints`` for the rules, and the model's own declared sizes.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from support import assert_model_unchanged, hook_count, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets import layout
from featviz_widgets.engine import (
    Recording,
    RecordingError,
    capture,
    check_layers,
    default_input_side,
    layouts,
    owner_for,
    survey,
    unknown_layer_error,
)
from featviz_widgets.examples import top_examples
from featviz_widgets.lab import make_patterns


def _image(size: int = 16, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _with_graph(
    model: nn.Module, layers: list[str], x: torch.Tensor, **kwargs
) -> dict[str, torch.Tensor]:
    recording = Recording(model, layers, keep_graph=True)
    with owner_for(model).using(), torch.enable_grad():
        return recording(x, **kwargs)


class _Counted(nn.Module):
    """Counts its calls: tells whether the forward got this far."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x


def test_with_graph_values_gradients_and_stop_after_the_last_layer() -> None:
    model = make_tiny_cnn()
    model.add_module("after", _Counted())  # runs after fc: must not run when fc is the last
    model.train()
    before = model_state(model)
    x = _image().requires_grad_(True)
    outputs = _with_graph(model, ["bn1", "conv2"], x)
    expected = capture(model, x.detach(), ["bn1", "conv2"])
    assert list(outputs) == ["bn1", "conv2"] and model.after.calls == 0
    for key, value in outputs.items():
        assert value.requires_grad
        torch.testing.assert_close(value.detach(), expected[key], rtol=0, atol=0)
    assert (outputs["bn1"] < 0).any()  # cloned before the in-place ReLU after it
    # The gradient of a channel mean reaches the image as through the plain model.
    (grad,) = torch.autograd.grad(outputs["conv2"][:, 3].mean(), x)
    reference = x.detach().clone().requires_grad_(True)
    with torch.no_grad():
        model.eval()
    plain = model.conv2(model.pool(model.relu1(model.bn1(model.conv1(reference)))))
    (expected_grad,) = torch.autograd.grad(plain[:, 3].mean(), reference)
    model.train()
    torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-7)
    assert hook_count(model) == 0
    assert_model_unchanged(model, before)


def test_with_graph_keeps_first_calls_and_the_models_output() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(self.conv(x) * 2)

    model = Twice().eval()
    x = _image(size=6)
    outputs = _with_graph(model, ["conv", ""], x)
    with torch.no_grad():
        first = model.conv(x)
        torch.testing.assert_close(outputs["conv"].detach(), first)  # the first call, not #2
        torch.testing.assert_close(outputs[""].detach(), model(x))
    assert outputs[""].requires_grad


def test_the_output_of_a_model_that_returns_logits_in_a_mapping() -> None:
    class WithLogits(nn.Module):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.fc, self.key = nn.Linear(4, 3), key

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {self.key: self.fc(x.flatten(1)[:, :4])}

    x = _image(size=4)
    outputs = _with_graph(WithLogits("logits"), [""], x)
    assert outputs[""].shape == (2, 3)
    with pytest.raises(RecordingError, match="returns dict, not a tensor of logits"):
        _with_graph(WithLogits("out"), [""], x)


def test_a_stand_in_network_gives_the_output_only() -> None:
    model = make_tiny_cnn()
    twin = make_tiny_cnn(seed=1)  # another network: its output shows which one ran
    x = _image()
    outputs = _with_graph(model, [""], x, network=twin)
    with torch.no_grad():
        torch.testing.assert_close(outputs[""].detach(), twin(x))
    with pytest.raises(ValueError, match="output only"):
        _with_graph(model, ["conv1", ""], x, network=twin)


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pair = _Pair()
        self.unused = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pair(self.conv(x))[0]


class _Pair(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, -x


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (["pair"], "layer 'pair' returns tuple, not one tensor"),
        (["unused", "conv"], "layer 'unused' never ran"),
        (["pair[1]"], "'pair\\[1\\]' is not a module name"),
        (["conv#2"], "'conv#2' is not a module name"),
    ],
)
def test_with_graph_errors_name_the_layer(layers: list[str], message: str) -> None:
    model = _Branchy().eval()
    before = model_state(model)
    with pytest.raises(RecordingError, match=message):
        _with_graph(model, layers, _image(size=8))
    assert hook_count(model) == 0
    assert_model_unchanged(model, before)


def test_values_take_parts_later_calls_and_graph_nodes_like_capture() -> None:
    model = _Branchy().eval()
    x = _image(size=8)
    keys = ["pair[1]", "conv"]
    assert Recording(model, keys)(x).keys() == set(keys)
    expected = capture(model, x, ["pair", "conv"])
    for key, value in Recording(model, keys)(x).items():
        assert torch.equal(value, expected[key]) and not value.requires_grad
    resnet = torchvision.models.resnet18(weights=None).eval()
    x = _image(size=32, batch=1)
    node = Recording(resnet, ["layer1.0.add"])(x)["layer1.0.add"]
    assert torch.equal(node, capture(resnet, x, ["layer1.0.add"])["layer1.0.add"])
    with pytest.raises(RecordingError, match="not an output of the forward: its layer gave"):
        Recording(model, ["pair[7]"])(_image(size=8))
    # Keys a way of recording cannot take are refused when the recording is made, before a forward.
    with pytest.raises(RecordingError, match="recorded with keep_graph=True"):
        Recording(model, ["conv", ""])
    with pytest.raises(RecordingError, match="'layer1.0.add' is not a module name"):
        Recording(resnet, ["layer1", "layer1.0.add"], keep_graph=True)


def test_layouts_come_from_one_survey_per_input_size(monkeypatch) -> None:
    torch.manual_seed(0)
    swin = torchvision.models.SwinTransformer(
        patch_size=[4, 4], embed_dim=8, depths=[1, 1], num_heads=[1, 1], window_size=[4, 4],
        num_classes=5,
    ).eval()  # fmt: skip
    recording = Recording(swin, ["features.1"])
    surveyed = []
    real = survey

    def counting(model, x, **kwargs):
        surveyed.append(tuple(x.shape))
        return real(model, x, **kwargs)

    monkeypatch.setattr("featviz_widgets.engine._recording.survey", counting)
    hints = recording.layouts(_image(size=32))
    assert hints["features.1"] == "channels_last"
    assert recording.layouts(_image(size=32, seed=2)) is hints and len(surveyed) == 1
    recording.layouts(_image(size=64))
    assert surveyed == [(1, 3, 32, 32), (1, 3, 64, 64)]  # one image, once per size
    found = real(swin, _image(size=32, batch=1))
    expected = layout.layout_hints(swin, capture(swin, _image(size=32, batch=1)))
    assert layouts(swin, found) == expected == layouts(swin, found.shapes)


def test_one_unknown_layer_error_wherever_the_name_is_checked() -> None:
    model = make_tiny_cnn()
    x = _image()
    messages = set()
    for check in (
        lambda: capture(model, x, ["conv3"]),
        lambda: check_layers(model, ["conv1", "conv3"]),
        lambda: Recording(model, ["conv3"]),
        lambda: Recording(model, ["conv3", ""], keep_graph=True),
        lambda: top_examples(model, make_patterns(2), ["conv3"], progress=False),
    ):
        with pytest.raises(ValueError) as info:
            check()
        messages.add(str(info.value))
    (message,) = messages
    assert message.startswith("unknown layer 'conv3' for Sequential. Did you mean 'conv1', 'conv2'")
    assert message.endswith("list_nodes(model) lists graph node names")
    assert message == str(
        unknown_layer_error(model, "conv3", ["conv1", "conv2"], ["x", "conv1", "conv2"])
    )
    assert check_layers(model, ["fc", "relu1#2", "fc"]) == ["fc", "relu1#2"]
    with pytest.raises(TypeError, match="non-empty list of names"):
        check_layers(model, [])


def test_the_default_input_side_is_the_models_own_else_224() -> None:
    vit = torchvision.models.VisionTransformer(
        image_size=32, patch_size=16, num_layers=1, num_heads=1, hidden_dim=8, mlp_dim=8
    )
    assert default_input_side(vit) == 32
    assert default_input_side(vit, 48) == 48
    assert default_input_side(make_tiny_cnn()) == 224
    found = top_examples(vit, make_patterns(2), ["encoder"], k=1, progress=False)
    assert found.preprocessing["crop"] == [32]  # the side the explorer shows it, not 224
