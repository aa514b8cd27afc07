"""featviz_widgets.engine capture: values against torchvision, output naming, stop-early."""

from __future__ import annotations

import copy
from collections import OrderedDict, namedtuple

import pytest
import torch
import torchvision
from support import assert_model_unchanged, make_tiny_cnn, model_state
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from featviz_widgets.engine import (
    capture,
    input_channels,
    list_layers,
    list_nodes,
    model_device,
    model_dtype,
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


def test_list_layers_execution_order_and_parts():
    model = _StructuredNet().eval()
    infos = {info.name: info for info in list_layers(model, _image(size=6))}
    assert len(infos["parts"].shapes) == 5
    assert infos["head"].shapes == ((1, 2, 6, 6),)


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
