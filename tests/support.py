"""Shared test helpers: a tiny seeded CNN and bit-exact model-state snapshots.

Import them with ``from support import make_tiny_cnn, model_state, assert_model_unchanged``
(a plain module, not ``conftest``: tests/e2e has a conftest of its own, and two modules named
``conftest`` cannot both be imported by name); ``tiny_cnn`` is also a fixture in conftest.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

# Two cores are shared by every test run on this machine: keep torch from oversubscribing.
torch.set_num_threads(2)


def make_tiny_cnn(in_channels: int = 3, num_classes: int = 10, seed: int = 0) -> nn.Sequential:
    """A small seeded CNN (~3k params) with the layer types the library must handle.

    Names: ``conv1 bn1 relu1 pool conv2 bn2 relu2 gap flatten fc``; ``relu*`` are in-place,
    so ``bn*`` outputs get overwritten after their hooks run. Returned in eval mode with
    BatchNorm running statistics that are not the defaults.
    """
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = nn.Sequential()
        model.add_module("conv1", nn.Conv2d(in_channels, 8, 3, padding=1))
        model.add_module("bn1", nn.BatchNorm2d(8))
        model.add_module("relu1", nn.ReLU(inplace=True))
        model.add_module("pool", nn.MaxPool2d(2))
        model.add_module("conv2", nn.Conv2d(8, 16, 3, padding=1))
        model.add_module("bn2", nn.BatchNorm2d(16))
        model.add_module("relu2", nn.ReLU(inplace=True))
        model.add_module("gap", nn.AdaptiveAvgPool2d(1))
        model.add_module("flatten", nn.Flatten())
        model.add_module("fc", nn.Linear(16, num_classes))
        for bn in (model.bn1, model.bn2):  # non-trivial statistics, so eval mode matters
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    finally:
        torch.random.set_rng_state(generator_state)
    return model.eval()


@dataclass
class ModelState:
    """What :func:`model_state` saw: compare with :func:`assert_model_unchanged`."""

    training: dict[str, bool]
    requires_grad: dict[str, bool]
    tensors: dict[str, torch.Tensor]
    hooks: dict[str, int]
    grads: dict[str, torch.Tensor | None]


_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_load_state_dict_pre_hooks",
)


def hook_count(model: nn.Module) -> int:
    """Every forward / pre / backward (pre) hook on ``model``'s modules, plus global ones."""
    local = sum(len(getattr(m, attr, {})) for m in model.modules() for attr in _HOOK_DICTS)
    return local + _global_hook_count()


def _global_hook_count() -> int:
    # Hooks registered with nn.modules.module.register_module_forward_hook & co. fire on
    # every module in the process, so a leaked one is as bad as a local one.
    from torch.nn.modules import module as module_impl

    names = [n for n in vars(module_impl) if n.startswith("_global_") and n.endswith("hooks")]
    return sum(len(getattr(module_impl, n)) for n in names)


def model_state(model: nn.Module) -> ModelState:
    """Snapshot training flags, requires_grad, cloned params and buffers, .grad, hook counts."""
    tensors = {f"param:{n}": p.detach().clone() for n, p in model.named_parameters()}
    tensors.update({f"buffer:{n}": b.detach().clone() for n, b in model.named_buffers()})
    return ModelState(
        grads={n: p.grad for n, p in model.named_parameters()},
        training={name: m.training for name, m in model.named_modules()},
        requires_grad={n: p.requires_grad for n, p in model.named_parameters()},
        tensors=tensors,
        hooks={
            f"{name}.{attr}": len(getattr(m, attr, {}))
            for name, m in model.named_modules()
            for attr in _HOOK_DICTS
        },
    )


def assert_model_unchanged(model: nn.Module, before: ModelState) -> None:
    """Assert ``model`` matches ``before`` bit for bit and carries no hooks at all."""
    after = model_state(model)
    assert after.training == before.training, "train/eval flags changed"
    assert after.requires_grad == before.requires_grad, "requires_grad flags changed"
    assert after.tensors.keys() == before.tensors.keys(), "parameters or buffers added/removed"
    for name, tensor in before.tensors.items():
        now = after.tensors[name]
        assert now.dtype == tensor.dtype and now.device == tensor.device, f"{name} moved"
        assert torch.equal(now, tensor), f"{name} changed"
    for name, grad in before.grads.items():  # the same .grad object (or None), untouched
        assert after.grads[name] is grad, f"{name}.grad replaced"
    assert hook_count(model) == 0, {k: v for k, v in after.hooks.items() if v}


class UntraceableCNN(nn.Module):
    """One conv and data-dependent control flow: torch.fx cannot trace it, module hooks still work."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y if float(y.sum()) > 0 else -y


class FixedSizeCNN(nn.Module):
    """A CNN whose Linear head takes 32 x 32 inputs only and says nothing about it (like MaxViT)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 32 * 32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))


# -- Keras 3 models (torch backend): Keras' own view of the state promise ----------------------


def keras_state(model) -> tuple[list[bytes], list[bool], list[bool]]:
    """Every Keras variable's bytes (BatchNorm moving statistics included), every layer's
    ``trainable`` flag and every variable's ``requires_grad``."""
    weights = [v.value.detach().cpu().numpy().tobytes() for v in model.variables]
    trainable = [layer.trainable for layer in model._flatten_layers(include_self=True)]
    grads = [v.value.requires_grad for v in model.variables]
    return weights, trainable, grads


def assert_keras_unchanged(model, before: tuple[list[bytes], list[bool], list[bool]]) -> None:
    """Bit-identical variables, the same flags, and no layer left with a wrapped ``call``."""
    weights, trainable, grads = keras_state(model)
    assert len(weights) == len(before[0]), "variables added or removed"
    for index, (old, new) in enumerate(zip(before[0], weights, strict=True)):
        assert old == new, f"variable {model.variables[index].path} changed"
    assert trainable == before[1], "trainable flags changed"
    assert grads == before[2], "requires_grad flags changed"
    wrapped = [x.name for x in model._flatten_layers(include_self=True) if "call" in x.__dict__]
    assert not wrapped, f"a wrapped call was left on {wrapped}"


@contextmanager
def model_held(model: nn.Module, job: str | None = None) -> Iterator[None]:
    """Inside the block, another thread holds ``model``'s owner (as a running job named ``job``,
    or as a plain script call when None), the way a long Maximize step does."""
    from featviz_widgets import engine

    owner = engine.owner_for(model)
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with owner.running(job) if job else nullcontext(), owner.using():
            inside.set()
            release.wait(30)

    worker = threading.Thread(target=hold)
    worker.start()
    try:
        assert inside.wait(30), "the holding thread never got the model"
        yield
    finally:
        release.set()
        worker.join()
