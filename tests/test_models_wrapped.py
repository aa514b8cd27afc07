"""Models as training code hands them over: compiled, DataParallel / DDP, scripted, lazy.

Each case is used the way a user would (``LayerExplorer``, ``capture``, ``maximize``) and checked
against the state promise: no hooks of ours left, the user's own hooks, parametrizations and
pruning masks still in place and still firing, the same flags, bit-identical parameters and
buffers.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from support import assert_model_unchanged, make_tiny_cnn, model_state
from torch import nn
from torch.nn.utils import parametrize, prune
from widgets_support import CAT, decode, maximizer_tab

from featviz_widgets.engine import Recording, capture, list_layers, owner_for
from featviz_widgets.optvis import MaximizeSettings, maximize
from featviz_widgets.widgets import LayerExplorer

X = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
SETTINGS = MaximizeSettings(steps=3, size=32, preset="lucid", seed=1)


class _Scale(nn.Module):
    """A parametrization: the weight the conv uses is twice the stored one."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * 2


def user_model() -> tuple[nn.Sequential, list[str]]:
    """The tiny CNN as a user may have it: a forward hook of their own, a parametrized conv
    and a pruned one (whose mask is applied by a forward pre-hook). The list collects the
    names their hook saw, so a test can tell it still fires."""
    model = make_tiny_cnn()
    fired: list[str] = []
    model.relu1.register_forward_hook(lambda module, args, out: fired.append("relu1"))
    parametrize.register_parametrization(model.conv1, "weight", _Scale())
    prune.l1_unstructured(model.conv2, "weight", amount=0.5)
    return model, fired


def own_state(model: nn.Module) -> tuple[object, dict[str, int]]:
    """The state snapshot and the hook counts per module (the user's hooks are expected)."""
    state = model_state(model)
    return state, dict(state.hooks)


def assert_kept(model: nn.Module, before: tuple[object, dict[str, int]], fired: list[str]) -> None:
    """Bit-identical state, the user's hooks (and only those) still there and still firing."""
    state, hooks = before
    after = model_state(model)
    assert after.training == state.training and after.requires_grad == state.requires_grad
    assert after.tensors.keys() == state.tensors.keys()
    for name, tensor in state.tensors.items():
        assert torch.equal(after.tensors[name], tensor), f"{name} changed"
    assert after.hooks == hooks, "hooks added or removed"
    inner = getattr(model, "_orig_mod", getattr(model, "module", model))
    assert parametrize.is_parametrized(inner.conv1, "weight")
    assert hasattr(inner.conv2, "weight_mask") and bool((inner.conv2.weight == 0).any())
    fired.clear()
    with torch.no_grad():
        inner(X)
    assert fired == ["relu1"]


def explore(model: nn.Module) -> LayerExplorer:
    """An explorer at 32 px, its note about the wrapper (if any) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return LayerExplorer(model, CAT, size=32)


# -- wrappers ----------------------------------------------------------------------------------


def wrapped(kind: str, model: nn.Module) -> nn.Module:
    if kind == "compiled":
        return torch.compile(model)
    return nn.DataParallel(model)  # no GPU: it runs the module itself, a plain CPU forward


@pytest.mark.parametrize(("kind", "prefix", "note"), [
    ("compiled", "_orig_mod.", "inside this OptimizedModule (model._orig_mod) and runs it "
     "uncompiled: hooks would recompile it at every layer change; layer names work with or "
     "without the '_orig_mod.' prefix"),
    ("parallel", "module.", "inside this DataParallel (model.module); layer names work with or "
     "without the 'module.' prefix"),
])  # fmt: skip
def test_a_wrapped_model_is_explored_as_the_network_inside(kind, prefix, note) -> None:
    plain, _ = user_model()
    model, fired = user_model()
    outer = wrapped(kind, model)
    before = own_state(outer)
    with pytest.warns(UserWarning, match=re.escape(f"Sequential {note}")):
        layers = [info.name for info in list_layers(outer)]
    assert layers == [info.name for info in list_layers(plain)]  # the names the user wrote
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per wrapper, not at every call
        acts = capture(outer, X, ["conv2", f"{prefix}relu2", f"{prefix}fc"])
    expected = capture(plain, X, ["conv2", "relu2", "fc"])
    assert list(acts) == ["conv2", "relu2", "fc"]
    for key, tensor in expected.items():
        assert torch.equal(acts[key], tensor), key
    assert owner_for(outer) is owner_for(model)  # one lock and one state for both handles
    assert_kept(outer, before, fired)


@pytest.mark.parametrize("kind", ["compiled", "parallel"])
def test_the_explorer_and_maximize_on_a_wrapped_model_match_the_plain_one(kind) -> None:
    plain, _ = user_model()
    model, fired = user_model()
    outer = wrapped(kind, model)
    before = own_state(outer)
    ex, twin = explore(outer), explore(plain)
    assert ex.layers == twin.layers
    for layer in ("conv2", "relu2"):
        ex.layer = twin.layer = layer
        assert ex.error is None
        shown, expected = (decode(e.tab_object("maps").image.value) for e in (ex, twin))
        assert np.array_equal(shown, expected)
    prefix = "_orig_mod." if kind == "compiled" else "module."
    restricted = explore_layers(outer, [f"{prefix}conv2", "relu2"])
    assert restricted.layers == ["conv2", "relu2"]
    got = maximize(outer, (f"{prefix}conv2", 3), settings=SETTINGS)
    want = maximize(plain, ("conv2", 3), settings=SETTINGS)
    assert np.array_equal(got.images[0], want.images[0])
    for explorer in (ex, twin, restricted):
        explorer.close()
    assert_kept(outer, before, fired)


def explore_layers(model: nn.Module, layers: list[str]) -> LayerExplorer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        explorer = LayerExplorer(model, CAT, size=32, layers=layers)
    explorer._panel.filter.value = "all"
    return explorer


def test_a_layer_change_on_a_compiled_model_never_compiles() -> None:
    model, fired = user_model()
    compiled = torch.compile(model)
    before = own_state(compiled)
    calls: list[int] = []
    original = compiled.forward  # the compiled (dynamo) entry point, an instance attribute

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    compiled.forward = counted
    try:
        ex = explore(compiled)
        ex._panel.filter.value = "all"
        for layer in ex.layers:
            ex.layer = layer
        ex.layer = "conv2"
        tab = maximizer_tab(ex, steps=2)
        tab.run()
        tab.wait(60)
    finally:
        compiled.forward = original
    assert calls == []
    ex.close()
    assert_kept(compiled, before, fired)


def test_distributed_data_parallel_with_a_one_process_group(tmp_path: Path) -> None:
    # DDP needs a process group: a single-process gloo group on a file store runs on any CPU.
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        model, fired = user_model()
        outer = nn.parallel.DistributedDataParallel(model)
        before = own_state(outer)
        with pytest.warns(UserWarning, match="inside this DistributedDataParallel"):
            acts = capture(outer, X, ["module.conv2"])
        plain, _ = user_model()
        assert torch.equal(acts["conv2"], capture(plain, X, ["conv2"])["conv2"])
        ex = explore(outer)
        ex.layer = "conv2"
        assert ex.error is None and ex.tab_object("maps").image.value
        ex.close()
        assert_kept(outer, before, fired)
    finally:
        dist.destroy_process_group()


# -- TorchScript -------------------------------------------------------------------------------


def with_scripted_block() -> nn.Module:
    model = make_tiny_cnn()
    block = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
    torch.manual_seed(3)
    block[0].reset_parameters()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated
        scripted = torch.jit.script(block)
    model.conv2 = scripted
    model.bn2 = nn.Identity()
    return model


def test_a_scripted_submodule_is_one_opaque_layer() -> None:
    model = with_scripted_block()
    scripted = model.conv2
    before = model_state(model)
    names = [info.name for info in list_layers(model)]
    assert "conv2" in names and not any(n.startswith("conv2.") for n in names)
    acts = capture(model, X, ["conv2", "fc"])
    with torch.no_grad():
        eager = scripted(model.pool(model.relu1(model.bn1(model.conv1(X)))))
    assert torch.equal(acts["conv2"], eager)
    with pytest.raises(ValueError, match=r"'conv2.0' is inside the TorchScript module 'conv2'"):
        capture(model, X, ["conv2.0"])
    ex = explore(model)
    ex._panel.filter.value = "all"
    ex.layer = "conv2"
    assert ex.error is None and ex.tab_object("maps").image.value
    result = maximize(model, ("conv2", 1), settings=SETTINGS)
    assert result.steps == 3 and np.isfinite(result.history).all()
    ex.close()
    model.fc.forward = lambda x: 1 / 0  # a forward that fails after the scripted layer ran
    with pytest.raises(RuntimeError, match="forward failed"):
        capture(model, X)
    del model.fc.forward
    assert model.conv2 is scripted  # back in its slot after every forward, failed or not
    assert model_state(model).hooks == before.hooks
    assert_model_unchanged(model, before)


def test_a_fully_scripted_model_gets_a_type_error_naming_the_fix() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.script(make_tiny_cnn())
    fix = r"TorchScript model .*explore the eager nn.Module it was scripted from"
    for call in (
        lambda: LayerExplorer(scripted, CAT, size=32),
        lambda: capture(scripted, X, ["conv1"]),
        lambda: maximize(scripted, ("conv1", 0), settings=SETTINGS),
        lambda: Recording(scripted, ["conv1"]),
    ):
        with pytest.raises(TypeError, match=fix):
            call()


# -- lazy modules ------------------------------------------------------------------------------


def test_uninitialized_lazy_modules_ask_for_one_run_first() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(5))
    fix = r"layer '2' \(LazyLinear\) has no parameters yet: run the model once on an input"
    for call in (
        lambda: LayerExplorer(model, CAT, size=32),
        lambda: capture(model, X, ["0"]),  # hooks "0" only: the lazy layer would still run
        lambda: list_layers(model),
    ):
        with pytest.raises(TypeError, match=fix):
            call()
    assert nn.parameter.is_lazy(model[2].weight)  # featviz did not initialize it behind the back
    with torch.no_grad():
        model(X)  # what the message asks for
    before = model_state(model)
    ex = explore(model)
    assert ex.tab_object("maps").image.value
    ex.close()
    assert_model_unchanged(model, before)
