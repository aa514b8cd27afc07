"""featviz_widgets.engine: nothing lost (state, hooks, input), clear errors, listing, Capture."""

from __future__ import annotations

import pytest
import torch
import torchvision
from support import assert_model_unchanged, hook_count, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets.engine import (
    Capture,
    LayerInfo,
    capture,
    input_channels,
    list_layers,
    list_nodes,
    model_device,
    model_dtype,
    preserved_state,
)


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


def _image(batch: int = 1, size: int = 64, channels: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(seed))


# -- nothing lost -------------------------------------------------------------------------------


class _Boom(nn.Module):
    def forward(self, x):
        # Fails on real data; torch.fx records it as a side-effecting node, so the graph
        # route (graph nodes through torchvision's extractor) hits it too.
        torch._assert(x.sum() != x.sum(), "injected failure")
        return x


def _mixed_state(model: nn.Module) -> nn.Module:
    model.train()
    model.layer1.eval()  # a deliberately mixed train/eval state must come back as it was
    model.fc.weight.requires_grad_(False)
    return model


@pytest.mark.parametrize(
    "layers", [None, ["bn1", "layer1", "layer3"], ["layer3.0.add", "bn1"], ["layer3"]]
)
def test_fault_injection_restores_everything(layers):
    torch.manual_seed(0)
    model = _mixed_state(torchvision.models.resnet18())
    model.layer2[0].conv1 = nn.Sequential(model.layer2[0].conv1, _Boom())
    x = _image()
    x_before = x.clone()
    before = model_state(model)
    with pytest.raises(RuntimeError, match="forward failed while capturing") as info:
        capture(model, x, layers)
    # hooks name the failing module; the graph route the node and the layer before it
    assert "'layer2.0.conv1." in str(info.value) and "injected failure" in str(info.value)
    assert isinstance(info.value.__cause__, AssertionError)
    assert hook_count(model) == 0
    assert_model_unchanged(model, before)
    assert torch.equal(x, x_before)


def test_successful_capture_restores_train_mode_and_batchnorm_stats():
    torch.manual_seed(0)
    model = _mixed_state(torchvision.models.resnet18())
    before = model_state(model)
    acts = capture(model, _image(batch=2), ["bn1", "layer2.0.add", "fc"])
    assert acts["fc"].shape == (2, 1000)
    assert_model_unchanged(model, before)  # BatchNorm ran in eval mode: running stats intact


def test_callers_input_is_never_modified():
    model = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(3, 2, 1)).eval()
    x = _image(size=6)
    x_before = x.clone()
    acts = capture(model, x, ["0", "1"])
    assert torch.equal(x, x_before)
    assert torch.equal(acts["0"], x_before.clamp(min=0))


def test_capture_under_inference_mode(tiny_cnn):
    x = _image(size=16)
    expected = capture(tiny_cnn, x, ["bn1", "fc"])
    with torch.inference_mode():
        got = capture(tiny_cnn, x, ["bn1", "fc"])
    assert all(torch.equal(got[k], expected[k]) for k in expected)


# -- errors ---------------------------------------------------------------------------------


def test_non_module_is_a_type_error(tiny_cnn):
    for bad in (tiny_cnn.state_dict(), "resnet18", None):
        with pytest.raises(TypeError, match="torch.nn.Module"):
            capture(bad, _image())
        with pytest.raises(TypeError, match="torch.nn.Module"):
            list_layers(bad)
    with pytest.raises(TypeError, match="prepare_image"):
        capture(tiny_cnn, _image().numpy())
    with pytest.raises(TypeError, match="layers must be"):
        capture(tiny_cnn, _image(), [1, 2])


def test_unknown_layer_suggests_close_names(resnet18):
    before = model_state(resnet18)
    with pytest.raises(ValueError, match="unknown layer 'layer1.0.conv'") as info:
        capture(resnet18, _image(), ["layer1", "layer1.0.conv"])
    message = str(info.value)
    assert "'layer1.0.conv1'" in message and "list_layers" in message and "list_nodes" in message
    assert message.count("'layer1.0.conv1'") == 1, "each suggestion once, not once per namespace"
    with pytest.raises(ValueError, match="Did you mean 'layer1.0.add'"):
        capture(resnet18, _image(), "layer1.0.ad")
    with pytest.raises(ValueError, match="empty"):
        capture(resnet18, _image(), [])
    assert_model_unchanged(resnet18, before)


def test_layer_that_never_runs_inception_aux_head():
    torch.manual_seed(0)
    model = torchvision.models.inception_v3(
        weights=None, aux_logits=True, init_weights=False
    ).eval()
    before = model_state(model)
    with pytest.raises(ValueError, match="layer 'AuxLogits' never ran in the forward"):
        capture(model, _image(size=75), ["Mixed_5b", "AuxLogits"])
    assert_model_unchanged(model, before)
    infos = list_layers(model, _image(size=75))
    aux = next(info for info in infos if info.name == "AuxLogits")
    assert aux.shapes is None and aux.calls == 0
    assert infos[-1].shapes is None  # never-run modules come last


def test_models_own_error_is_wrapped_with_layer_context(resnet18):
    before = model_state(resnet18)
    bad = _image(channels=1)
    with pytest.raises(RuntimeError, match=r"in layer 'conv1' \(Conv2d\)") as info:
        capture(resnet18, bad, "layer2")
    assert "(1, 1, 64, 64)" in str(info.value)
    assert info.value.__cause__ is not None
    assert_model_unchanged(resnet18, before)


class _Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        x = self.conv(x)
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace this
            x = x * 2
        return self.head(x)


def test_untraceable_model_explains_and_module_names_still_work():
    model = _Untraceable().eval()
    before = model_state(model)
    with pytest.raises(ValueError, match="cannot be traced with torch.fx.*list_layers"):
        list_nodes(model)
    with pytest.raises(ValueError, match="unknown layer 'add'.*graph node names are unavailable"):
        capture(model, _image(size=8), ["conv", "add"])
    assert set(capture(model, _image(size=8))) == {"conv", "head"}
    assert_model_unchanged(model, before)


# -- listing --------------------------------------------------------------------------------


def test_list_layers_without_and_with_example(tiny_cnn):
    plain = list_layers(tiny_cnn)
    names = [name for name, _ in tiny_cnn.named_modules() if name]
    assert [info.name for info in plain] == names
    conv1 = plain[0]
    assert conv1 == LayerInfo("conv1", "Conv2d", 8 * 3 * 9 + 8, None, True, 0)
    ran = list_layers(tiny_cnn, _image(batch=2, size=16))
    assert [info.name for info in ran] == names
    assert ran[0].shapes == ((2, 8, 16, 16),) and ran[0].calls == 1
    assert ran[-1].shapes == ((2, 10),) and not ran[-1].is_conv
    assert hook_count(tiny_cnn) == 0


def test_list_nodes_resnet(resnet18):
    nodes = list_nodes(resnet18)
    assert nodes[0] == "x" and "layer1.0.add" in nodes and "flatten" in nodes


# -- context manager and helpers ------------------------------------------------------------


def test_capture_context_manager(tiny_cnn):
    x = _image(size=16)
    before = model_state(tiny_cnn)
    with Capture(tiny_cnn, ["bn1", "fc"]) as cap, torch.no_grad():
        out = tiny_cnn(x)
        assert hook_count(tiny_cnn) == 2
    assert list(cap.activations) == ["bn1", "fc"]
    assert (cap.activations["bn1"] < 0).any()
    assert torch.equal(cap.activations["fc"], out)
    assert_model_unchanged(tiny_cnn, before)

    reached_after_forward = False
    with Capture(tiny_cnn, "conv1", stop_early=True) as cap, torch.no_grad():
        tiny_cnn(x)
        reached_after_forward = True
    assert not reached_after_forward and list(cap.activations) == ["conv1"]

    with pytest.raises(ValueError, match="graph node"):
        Capture(torchvision.models.resnet18(), ["layer1.0.add"])


def test_capture_context_manager_restores_after_error(tiny_cnn):
    tiny_cnn.train()
    before = model_state(tiny_cnn)
    with pytest.raises(KeyError), Capture(tiny_cnn):
        assert not tiny_cnn.training  # eval mode inside
        raise KeyError("boom")
    assert_model_unchanged(tiny_cnn, before)


def test_preserved_state_restores_on_exception(tiny_cnn):
    tiny_cnn.train()
    tiny_cnn.bn1.eval()
    tiny_cnn.conv1.weight.requires_grad_(False)
    before = model_state(tiny_cnn)
    with pytest.raises(ZeroDivisionError), preserved_state(tiny_cnn):
        tiny_cnn.eval()
        for p in tiny_cnn.parameters():
            p.requires_grad_(True)
        1 / 0  # noqa: B018
    assert_model_unchanged(tiny_cnn, before)


def test_model_facts():
    assert input_channels(make_tiny_cnn(in_channels=1)) == 1
    assert input_channels(nn.Sequential(nn.Linear(3, 3))) is None
    assert model_dtype(nn.ReLU()) == torch.get_default_dtype()
    with pytest.raises(TypeError):
        model_device(object())
