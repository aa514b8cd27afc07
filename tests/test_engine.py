"""Tests for featviz_widgets.engine: values, naming, stop-early, state restoration, errors."""

from __future__ import annotations

import copy
from collections import OrderedDict, namedtuple

import pytest
import torch
import torchvision
from support import assert_model_unchanged, hook_count, make_tiny_cnn, model_state
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

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


def _seeded(factory, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    return factory(weights=None, **kwargs).eval()


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    return _seeded(torchvision.models.resnet18)


@pytest.fixture(scope="module")
def mobilenet_v2() -> nn.Module:
    return _seeded(torchvision.models.mobilenet_v2)


def _image(batch: int = 1, size: int = 64, channels: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(seed))


def _fx_reference(model: nn.Module, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """torchvision's extractor on a copy without in-place ops (which clobber returned nodes).

    A module name stands for the last graph node inside it; torchvision drops one of two
    names that land on the same node ("layer1" and "layer1.1"), so ask once per node.
    Modules inside FX leaves (torchvision's Conv2dNormActivation) have no node: they get the
    seed recipe instead, a hook that clones each output, on the same in-place-free copy.
    """
    reference = copy.deepcopy(model)
    for module in reference.modules():
        if hasattr(module, "inplace"):
            module.inplace = False
    nodes = list_nodes(reference)

    def node_of(name: str) -> str | None:
        covered = [n for n in nodes if n == name or n.startswith(name + ".")]
        return covered[-1] if covered else None

    representative = {node_of(name): name for name in names if node_of(name)}
    with torch.no_grad():
        values = create_feature_extractor(reference, list(representative.values()))(x)
    result = {name: values[representative[node_of(name)]] for name in names if node_of(name)}
    saved: dict[str, torch.Tensor] = {}
    handles = [
        reference.get_submodule(name).register_forward_hook(
            lambda m, a, out, name=name: saved.setdefault(name, out.clone())
        )
        for name in names
        if not node_of(name)
    ]
    with torch.no_grad():
        reference(x)
    for handle in handles:
        handle.remove()
    return {**result, **saved}


# -- values equal torchvision's feature extraction ---------------------------------------------


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v2"])
def test_module_and_node_values_equal_torchvision_extractor(arch, request):
    model = request.getfixturevalue(arch)
    x = _image()
    nodes = [n for n in list_nodes(model) if n != "x"]
    modules = [info.name for info in list_layers(model)]
    before = model_state(model)

    by_hooks = capture(model, x)  # every module, forward hooks
    by_graph = capture(model, x, nodes)  # every graph node (module names among them)

    reference = _fx_reference(model, x, sorted(set(nodes) | set(modules)))
    assert {key for key in by_hooks if "#" not in key} == set(modules)
    for key, tensor in by_hooks.items():
        name = key.replace("#2", "_1")  # a module's second call is the node "<name>_1"
        assert torch.equal(tensor, reference[name]), key
    assert [key for key in by_graph if "#" not in key] == nodes  # execution order
    for key, tensor in by_graph.items():
        name = key.replace("#2", "_1")
        assert torch.equal(tensor, reference[name]), key
    assert_model_unchanged(model, before)


def test_inplace_relu_does_not_clobber_bn1(resnet18):
    x = _image()
    for _ in range(2):  # the second call keeps outputs by reference where it learned that is safe
        acts = capture(resnet18, x, ["bn1", "relu", "layer1.0.bn2", "layer1"])
        assert (acts["bn1"] < 0).any(), "bn1 lost its negatives to ReLU(inplace=True)"
        assert torch.equal(acts["relu"], acts["bn1"].clamp(min=0))
        assert (acts["layer1.0.bn2"] < 0).any()  # `out += identity` follows it in place
    reference = _fx_reference(resnet18, x, ["bn1", "layer1.0.bn2"])
    assert torch.equal(acts["bn1"], reference["bn1"])
    assert torch.equal(acts["layer1.0.bn2"], reference["layer1.0.bn2"])
    all_modules = capture(resnet18, x)
    assert torch.equal(all_modules["bn1"], reference["bn1"])


class _SometimesInplace(nn.Module):
    """Overwrites its input in place only when ``armed``: breaks what a capture learned."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def forward(self, x):
        return x.mul_(-1) if self.armed else x * -1


def test_references_are_verified_and_rerun_when_overwritten():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), _SometimesInplace(), nn.ReLU()).eval()
    x = _image(size=8)
    first = capture(model, x, ["0", "2"])
    capture(model, x, ["0", "2"])  # now "0" is known clean and kept by reference
    model[1].armed = True
    after = capture(model, x, ["0", "2"])
    assert torch.equal(after["0"], first["0"])
    assert torch.equal(after["2"], first["2"])


# -- output structures and naming ---------------------------------------------------------------

Pair = namedtuple("Pair", ["low", "high"])


class _Structured(nn.Module):
    def forward(self, x):
        return {
            "tuple": (x, x + 1),
            "list": [x * 2],
            "pair": Pair(x - 1, x + 2),
            "skip": None,
        }


class _StructuredNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        self.parts = _Structured()
        self.head = nn.Conv2d(2, 2, 1)

    def forward(self, x):
        parts = self.parts(self.conv(x))
        return OrderedDict(out=self.head(parts["tuple"][1]), aux=parts["pair"].low)


def test_tuple_list_dict_namedtuple_parts_and_dict_final_output():
    torch.manual_seed(0)
    model = _StructuredNet().eval()
    x = _image(size=6)
    acts = capture(model, x, ["parts", "head"])
    base = capture(model, x, "conv")["conv"]
    assert list(acts) == [
        "parts['tuple'][0]",
        "parts['tuple'][1]",
        "parts['list'][0]",
        "parts['pair']['low']",
        "parts['pair']['high']",
        "head",
    ]
    assert torch.equal(acts["parts['tuple'][1]"], base + 1)
    assert torch.equal(acts["parts['pair']['high']"], base + 2)
    with torch.no_grad():
        assert torch.equal(acts["head"], model(x)["out"])
    whole = capture(model, x)  # every module of a model whose output is a dict
    assert list(whole)[0] == "conv" and "head" in whole


def test_module_called_twice_keeps_each_call():
    relu = nn.ReLU()
    model = nn.Sequential(nn.Conv2d(3, 4, 1), relu, nn.Conv2d(4, 4, 1), relu).eval()
    x = _image(size=5)
    acts = capture(model, x, ["1", "2"], stop_early=False)
    assert list(acts) == ["1", "2", "1#2"]
    assert torch.equal(acts["1#2"], capture(model, x, "2")["2"].clamp(min=0))
    assert list(capture(model, x, ["1"])) == ["1"]  # stop-early keeps only the first call
    assert list(capture(model, x)) == ["0", "1", "2", "1#2"]


@pytest.mark.parametrize(
    ("conv", "shape"),
    [(nn.Conv1d, (2, 3, 16)), (nn.Conv2d, (2, 3, 8, 8)), (nn.Conv3d, (2, 3, 4, 6, 6))],
)
def test_conv_1d_2d_3d_linear_and_batch(conv, shape):
    torch.manual_seed(0)
    model = nn.Sequential(conv(3, 4, 3), nn.Flatten(), nn.LazyLinear(5)).eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        model(x)  # materialize the lazy Linear
    expected_conv = conv.__name__
    acts = capture(model, x)
    assert acts["0"].shape[:2] == (2, 4)
    assert acts["2"].shape == (2, 5)
    with torch.no_grad():
        assert torch.equal(acts["2"], model(x))
    assert input_channels(model) == 3
    assert [i.type for i in list_layers(model)][0] == expected_conv


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_models_get_cast_input(dtype):
    model = make_tiny_cnn().to(dtype)
    x = _image(batch=2, size=16)
    acts = capture(model, x, ["bn1", "fc"])
    assert acts["bn1"].dtype == dtype and acts["fc"].shape == (2, 10)
    assert x.dtype == torch.float32
    with torch.no_grad():
        assert torch.equal(acts["fc"], model(x.to(dtype)))
    assert model_dtype(model) == dtype


def test_device_and_cpu_results(tiny_cnn):
    x = _image(size=16)
    assert model_device(tiny_cnn) == torch.device("cpu")
    assert model_device(nn.ReLU()) == torch.device("cpu")
    acts = capture(tiny_cnn, x, "conv2", to_cpu=False)
    assert acts["conv2"].device == model_device(tiny_cnn)
    assert capture(tiny_cnn, x, "conv2")["conv2"].device.type == "cpu"


def test_no_graph_unless_keep_graph(tiny_cnn):
    x = _image(size=16).requires_grad_(True)
    acts = capture(tiny_cnn, x, ["conv1", "fc"])
    assert all(not t.requires_grad and t.grad_fn is None for t in acts.values())
    kept = capture(tiny_cnn, x, ["conv1", "fc"], keep_graph=True)
    assert kept["fc"].grad_fn is not None
    kept["fc"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_only_requested_layers_are_kept(tiny_cnn):
    acts = capture(tiny_cnn, _image(size=16), ["pool", "conv1", "pool"])
    assert list(acts) == ["conv1", "pool"]  # execution order, repeats dropped


# -- stop early ---------------------------------------------------------------------------------


class _Counter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x


def test_stop_early_skips_the_rest_of_the_forward():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), _Counter(), nn.Conv2d(4, 4, 3), _Counter()).eval()
    x = _image(size=12)
    acts = capture(model, x, ["1"])
    assert list(acts) == ["1"]
    assert (model[1].calls, model[3].calls) == (1, 0)
    capture(model, x, ["1"], stop_early=False)
    assert (model[1].calls, model[3].calls) == (2, 1)
    capture(model, x, ["2", "0"])  # stops after the last requested one, whatever the order
    assert model[3].calls == 1


def test_stop_early_resnet_layer1_skips_later_stages(resnet18):
    seen: list[str] = []
    handles = [
        module.register_forward_pre_hook(lambda m, a, name=name: seen.append(name))
        for name, module in resnet18.named_children()
    ]
    try:
        capture(resnet18, _image(), "layer1")
    finally:
        for handle in handles:
            handle.remove()
    assert seen == ["conv1", "bn1", "relu", "maxpool", "layer1"]


def test_stop_early_is_not_swallowed_by_a_models_except_exception():
    class Guarded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)
            self.after = _Counter()

        def forward(self, x):
            try:
                x = self.conv(x)
            except Exception:  # a model's own error handling must not eat the stop signal
                x = x * 0
            return self.after(x)

    model = Guarded().eval()
    assert list(capture(model, _image(size=4), "conv")) == ["conv"]
    assert model.after.calls == 0


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


def test_list_layers_execution_order_and_parts():
    model = _StructuredNet().eval()
    infos = {info.name: info for info in list_layers(model, _image(size=6))}
    assert len(infos["parts"].shapes) == 5
    assert infos["head"].shapes == ((1, 2, 6, 6),)


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
