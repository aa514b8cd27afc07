"""Input-space methods: each equals Captum called directly with the same settings.

Captum gets the model itself and ``target=class``; ours wraps the model in a forward that returns
the class's score, so both take gradients through the same graph. A model with in-place ReLUs
is given to Captum's guided backprop as a copy with out-of-place ReLUs (torch refuses backward
hooks on in-place modules); ours makes that switch itself and restores the flags.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torchvision
from captum.attr import GuidedBackprop, IntegratedGradients, NoiseTunnel, Occlusion, Saliency
from support import assert_model_unchanged, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets.engine import attribution_maps

TARGET = 4


def image(seed: int = 1, size: int = 32) -> torch.Tensor:
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


def out_of_place(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    return twin


def captum_direct(method: str, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Captum on the model itself, with the settings ours uses by default (x 32 x 32)."""
    model = out_of_place(model)
    x = x.clone().requires_grad_(True)
    if method == "saliency":
        return Saliency(model).attribute(x, target=TARGET)
    if method == "smoothgrad":
        torch.manual_seed(0)
        return NoiseTunnel(Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=16, nt_samples_batch_size=16,
            stdevs=0.15 * float(x.max() - x.min()), target=TARGET,
        )  # fmt: skip
    if method == "integrated_gradients":
        return IntegratedGradients(model).attribute(
            x, baselines=0.0, target=TARGET, n_steps=32, internal_batch_size=16
        )
    if method == "occlusion":  # window 32 // 8 = 4, stride 2
        return Occlusion(model).attribute(
            x, sliding_window_shapes=(3, 4, 4), strides=(3, 2, 2), baselines=0.0,
            target=TARGET, perturbations_per_eval=16,
        )  # fmt: skip
    if method == "guided_backprop":
        return GuidedBackprop(model).attribute(x, target=TARGET)
    raise AssertionError(method)


METHODS = ["saliency", "smoothgrad", "integrated_gradients", "occlusion", "guided_backprop"]


@pytest.mark.parametrize("method", METHODS)
def test_each_method_equals_captum_called_directly(method: str) -> None:
    model = make_tiny_cnn()
    x = image()
    before = model_state(model)
    ours = attribution_maps(model, x, TARGET, method=method)
    assert_model_unchanged(model, before)
    expected = captum_direct(method, model, x).detach()[0].numpy()
    assert ours.layer is None and ours.layer_map is None and ours.channels is None
    assert ours.input_map.shape == (3, 32, 32)
    assert np.abs(expected).max() > 0, "an all-zero reference would prove nothing"
    np.testing.assert_allclose(ours.input_map, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.map, expected.sum(0), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        assert ours.score == pytest.approx(float(model(x)[0, TARGET]), rel=1e-5)


def test_smoothgrad_is_seeded_and_leaves_the_callers_generator_alone() -> None:
    model = make_tiny_cnn()
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = attribution_maps(model, image(), TARGET, method="smoothgrad")
    assert torch.equal(torch.rand(3), expected_next)  # the global generator did not advance
    again = attribution_maps(model, image(), TARGET, method="smoothgrad")
    other = attribution_maps(model, image(), TARGET, method="smoothgrad", options={"seed": 1})
    np.testing.assert_array_equal(first.input_map, again.input_map)
    assert not np.array_equal(first.input_map, other.input_map)


def test_options_reach_captum() -> None:
    model = make_tiny_cnn()
    x = image()
    ours = attribution_maps(
        model, x, TARGET, method="integrated_gradients", options={"steps": 8, "batch_size": 3}
    )
    direct = IntegratedGradients(model).attribute(
        x.clone(), baselines=0.0, target=TARGET, n_steps=8, internal_batch_size=3
    )
    np.testing.assert_allclose(ours.input_map, direct.detach()[0].numpy(), rtol=1e-5, atol=1e-6)
    occluded = attribution_maps(
        model, x, TARGET, method="occlusion", options={"window": 8, "stride": 8}
    )
    blocks = occluded.input_map[0]  # one value per 8 x 8 window: piecewise constant
    assert np.array_equal(blocks[:8, :8], np.full((8, 8), blocks[0, 0]))
    assert len(np.unique(blocks)) <= 16


def test_guided_backprop_on_resnet18_restores_its_in_place_relus() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    x = image(seed=2, size=64)
    before = model_state(model)
    flags = {name: m.inplace for name, m in model.named_modules() if isinstance(m, nn.ReLU)}
    assert all(flags.values())
    ours = attribution_maps(model, x, TARGET, method="guided_backprop")
    assert flags == {n: m.inplace for n, m in model.named_modules() if isinstance(m, nn.ReLU)}
    assert_model_unchanged(model, before)
    expected = captum_direct("guided_backprop", model, x).detach()[0].numpy()
    np.testing.assert_allclose(ours.input_map, expected, rtol=1e-4, atol=1e-7)


def test_channel_target_through_captum() -> None:
    model = make_tiny_cnn()
    x = image()
    ours = attribution_maps(model, x, ("conv2", 5), method="saliency")

    class ChannelMean(nn.Module):  # conv2's channel 5, averaged: what ours explains
        def __init__(self) -> None:
            super().__init__()
            self.net = copy.deepcopy(model)[:5]

        def forward(self, batch: torch.Tensor) -> torch.Tensor:
            return self.net(batch)[:, 5].flatten(1).mean(1)

    expected = Saliency(ChannelMean()).attribute(x.clone().requires_grad_(True))
    assert ours.target == ("conv2", 5)
    np.testing.assert_allclose(ours.input_map, expected.detach()[0].numpy(), rtol=1e-5, atol=1e-7)


class _GuidedClamp(torch.autograd.Function):
    """ReLU6 with guided backprop's backward, written out: the gradient passes where 0 < x < 6,
    and only its positive part."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(0, 6)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return (grad * ((x > 0) & (x < 6))).clamp(min=0)


def test_guided_backprop_guides_relu6_and_leaves_it_a_relu6() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU6(inplace=True), nn.Conv2d(6, 8, 3, padding=1),
        nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    ).eval()  # fmt: skip
    with torch.no_grad():
        model[0].weight.mul_(4)  # some inputs above 6, so the upper clip matters too
    x = image(seed=3, size=16)
    before = model_state(model)
    ours = attribution_maps(model, x, TARGET, method="guided_backprop")
    assert [type(m) for m in model] == [
        nn.Conv2d, nn.ReLU6, nn.Conv2d, nn.ReLU6, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Linear
    ]  # fmt: skip
    assert model[1].inplace and not model[3].inplace
    assert_model_unchanged(model, before)
    reference = x.clone().requires_grad_(True)
    hidden = _GuidedClamp.apply(model[0](reference))
    assert bool((model[0](x) > 6).any())
    score = model[6](model[5](model[4](_GuidedClamp.apply(model[2](hidden)))))[0, TARGET]
    (expected,) = torch.autograd.grad(score, reference)
    np.testing.assert_allclose(ours.input_map, expected[0].numpy(), rtol=1e-5, atol=1e-7)
    saliency = attribution_maps(model, x, TARGET, method="saliency").input_map
    assert not np.allclose(ours.input_map, saliency)  # guided: not the plain gradient
