"""Activation maximization: the model lock between steps, input sizes, layer errors, and the
explorer's Maximize tab on a channels-last layer."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
import torch
import torchvision
from support import FixedSizeCNN, assert_model_unchanged, hook_count, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets.engine import capture, owner_for
from featviz_widgets.optvis import (
    MaximizeResult,
    MaximizeSettings,
    maximize,
    objectives,
)

SMALL = MaximizeSettings(steps=20, size=32, preview_every=5)


def _settings(**changes: object) -> MaximizeSettings:
    return dataclasses.replace(SMALL, **changes)


# -- the model lock, input sizes, layer errors ------------------------------------------------
def test_between_steps_another_thread_sees_the_model_as_its_user_left_it() -> None:
    model = make_tiny_cnn().train()
    model.bn1.eval()  # a mixed state
    model.conv1.weight.requires_grad_(False)
    before = model_state(model)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    layers = ["bn1", "conv2", "fc"]
    expected = capture(model, x, layers)
    paused, resume = threading.Event(), threading.Event()
    box: list[object] = []

    def on_step(step: int, value: float, preview: object) -> None:
        if step == 2:
            paused.set()
            resume.wait(60)

    def work() -> None:
        target = objectives.channel("bn2", 1) + objectives.class_logit(0)
        try:
            box.append(maximize(model, target, settings=_settings(steps=4), on_step=on_step))
        except BaseException as error:  # shown by the asserts below instead of a hang
            box.append(error)
            paused.set()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        assert paused.wait(60) and not box, box
        with owner_for(model).using(timeout=5):  # the lock is free between steps
            pass
        assert hook_count(model) == 0
        now = model_state(model)
        assert now.training == before.training and now.requires_grad == before.requires_grad
        during = capture(model, x, layers)
        assert during.keys() == expected.keys()
        for key, value in expected.items():
            assert torch.equal(during[key], value), key
    finally:
        resume.set()
        worker.join(60)
    assert not worker.is_alive()
    (result,) = box
    assert isinstance(result, MaximizeResult), result
    assert result.steps == 4 and not result.cancelled
    assert_model_unchanged(model, before)


def test_parameter_grads_are_the_same_objects_afterwards() -> None:
    model = make_tiny_cnn()
    grad = torch.full_like(model.fc.weight, 0.25)
    model.fc.weight.grad = grad
    maximize(model, objectives.class_logit(2), settings=_settings(steps=3))
    assert model.fc.weight.grad is grad and torch.equal(grad, torch.full_like(grad, 0.25))
    assert model.conv1.weight.grad is None


def _fed_sizes(model: nn.Module, run: object) -> tuple[object, list[tuple[int, ...]]]:
    """``run()``, and the input shape of every forward of ``model`` during it."""
    sizes: list[tuple[int, ...]] = []
    handle = model.register_forward_pre_hook(lambda m, args: sizes.append(tuple(args[0].shape)))
    try:
        return run(), sizes
    finally:
        handle.remove()


@pytest.fixture(scope="module")
def vit_224() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.vit_b_16()  # declares image_size=224 and accepts nothing else


@pytest.mark.parametrize("preset", ["lucid", "classic"])
def test_a_vit_that_declares_224_gets_images_resized_to_it(vit_224: nn.Module, preset: str) -> None:
    before = model_state(vit_224)
    settings = MaximizeSettings(preset=preset, steps=2, size=48 if preset == "classic" else 128)
    target = ("encoder.layers.encoder_layer_0", 3)
    result, sizes = _fed_sizes(vit_224, lambda: maximize(vit_224, target, settings=settings))
    assert set(sizes) == {(1, 3, 224, 224)}  # the shapes survey and each step's forward
    assert result.steps == 2 and len(result.history) == 2
    assert result.images[0].shape == (settings.size, settings.size, 3)
    assert_model_unchanged(vit_224, before)


class DeclaredSizeCNN(FixedSizeCNN):
    """FixedSizeCNN saying what it takes, the way torchvision's ViT does."""

    image_size = 32


class Needs224CNN(nn.Module):
    """A CNN whose head takes 224 x 224 inputs only and that says nothing about it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 8, stride=8)
        self.fc = nn.Linear(4 * 28 * 28, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))


@pytest.mark.parametrize("preset", ["lucid", "classic"])
def test_fixed_size_cnns_work_with_default_settings(preset: str) -> None:
    torch.manual_seed(0)
    settings = MaximizeSettings(preset=preset, steps=3, preview_every=0)  # size 128
    declared = DeclaredSizeCNN()
    target = objectives.channel("conv", 1) + objectives.class_logit(2)
    result, sizes = _fed_sizes(declared, lambda: maximize(declared, target, settings=settings))
    assert set(sizes) == {(1, 3, 32, 32)} and result.steps == 3
    assert result.images[0].shape == (128, 128, 3)
    silent = Needs224CNN()  # fails at 128, runs at 224: the one fallback size
    before = model_state(silent)
    result, sizes = _fed_sizes(silent, lambda: maximize(silent, target, settings=settings))
    assert sizes[0] == (1, 3, 128, 128) and set(sizes[1:]) == {(1, 3, 224, 224)}
    assert result.steps == 3 and result.images[0].shape == (128, 128, 3)
    assert_model_unchanged(silent, before)


def test_a_size_the_model_does_not_take_is_a_clear_error() -> None:
    torch.manual_seed(0)
    model = FixedSizeCNN()  # takes 32 x 32 only and does not say so
    before = model_state(model)
    with pytest.raises(ValueError, match=r"128 x 128.*224 x 224.*MaximizeSettings\(size=") as err:
        maximize(model, ("conv", 0), settings=MaximizeSettings(steps=2))
    assert "mat1 and mat2" in str(err.value)  # the model's own reason
    assert_model_unchanged(model, before)
    result = maximize(model, ("conv", 0), settings=MaximizeSettings(steps=2, size=32))
    assert result.steps == 2


class _TupleBlock(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, x


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pair = _TupleBlock()
        self.unused = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.pair(self.conv(x))[0]}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (("pair", 0), "layer 'pair' returns tuple, not one tensor"),
        (("unused", 0), "layer 'unused' never ran"),
        (objectives.class_logit(0), "the model returns dict, not a tensor of logits"),
    ],
)
def test_layers_that_give_no_single_tensor_are_clear_errors(target: object, message: str) -> None:
    model = _Branchy()
    before = model_state(model)
    with pytest.raises(ValueError, match=message):
        maximize(model, target, settings=_settings(steps=2))
    assert_model_unchanged(model, before)


# -- the explorer's Maximize tab on a channels-last layer ------------------------------------------
def test_maximize_tab_runs_a_channels_last_swin_stage() -> None:
    from featviz_widgets.widgets import LayerExplorer  # the only widget test here

    torch.manual_seed(0)
    model = torchvision.models.SwinTransformer(
        patch_size=[4, 4], embed_dim=8, depths=[1, 1], num_heads=[1, 1], window_size=[4, 4],
        num_classes=5,
    )  # fmt: skip
    before = model_state(model)
    image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    ex = LayerExplorer(model, image, size=64)
    try:
        ex.layer, ex.channel, ex.tab = "features.1", 3, "Maximize"
        tab = ex.tab_object("maximize")
        tab.steps.value, tab.size.value, tab.preset.value = 4, 64, "lucid"
        assert "press Run" in tab.status.value  # was refused: "not a channels-first feature map"
        tab.run()
        result = ex.tab_object("maximize").wait(60)
        assert result.steps == 4 and result.images[0].shape == (64, 64, 3)
        assert "done" in tab.status.value
    finally:
        ex.close()
    assert_model_unchanged(model, before)
