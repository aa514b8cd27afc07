"""Activation maximization: objectives, and maximize on channels-last and token layers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torchvision
from support import assert_model_unchanged, model_state

from featviz_widgets.optvis import (
    MaximizeSettings,
    Objective,
    maximize,
    objectives,
)

SMALL = MaximizeSettings(steps=20, size=32, preview_every=5)


def _settings(**changes: object) -> MaximizeSettings:
    return dataclasses.replace(SMALL, **changes)


# -- objectives ------------------------------------------------------------------------------
def _acts() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"a": torch.randn(2, 4, 3, 3, generator=g), "": torch.randn(2, 10, generator=g)}


def test_objectives_compute_what_they_name() -> None:
    acts = _acts()
    a, out = acts["a"], acts[""]
    assert float(objectives.channel("a", 2)(acts)) == pytest.approx(float(a[:, 2].mean()))
    assert float(objectives.channel("a", 2, batch=1)(acts)) == pytest.approx(float(a[1, 2].mean()))
    assert float(objectives.neuron("a", 3)(acts)) == pytest.approx(float(a[:, 3, 1, 1].mean()))
    assert float(objectives.neuron("a", 3, x=0, y=2, batch=0)(acts)) == pytest.approx(
        float(a[0, 3, 2, 0])
    )
    assert float(objectives.layer("a")(acts)) == pytest.approx(float(a.mean()))
    l2 = float(a.flatten(1).norm(dim=1).mean())
    assert float(objectives.layer("a", "l2")(acts)) == pytest.approx(l2)
    assert float(objectives.class_logit(7, batch=1)(acts)) == pytest.approx(float(out[1, 7]))
    dot = float((a * torch.tensor([3.0, 0, 4, 0]).view(1, 4, 1, 1)).sum(1).mean() / 5)
    assert float(objectives.direction("a", [3.0, 0, 4, 0])(acts)) == pytest.approx(dot, rel=1e-5)


def test_objective_arithmetic_and_metadata() -> None:
    acts = _acts()
    c0, c1 = objectives.channel("a", 0, batch=0), objectives.class_logit(1, batch=3)
    combined = 2 * c0 - c1 / 4 + 1.5
    assert isinstance(combined, Objective)
    assert combined.layers == ("a", "") and combined.batch_size == 4
    two = 2 * c0 - objectives.class_logit(1) / 4 + 1.5
    expected = 2 * float(c0(acts)) - float(acts[""][:, 1].mean()) / 4 + 1.5
    assert float(two(acts)) == pytest.approx(expected)
    assert float((1 - c0)(acts)) == pytest.approx(1 - float(c0(acts)))
    assert sum([c0, c0]).name == c0.name + " + " + c0.name
    with pytest.raises(TypeError):
        c0 * c0  # noqa: B018  (only scalars scale an objective)


def test_diversity_is_gram_cosine_similarity_across_the_batch() -> None:
    same = {"a": torch.ones(3, 2, 4, 4)}
    assert float(objectives.diversity("a")(same)) == pytest.approx(1.0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 5, generator=g)
    grams = [xi.reshape(3, -1) @ xi.reshape(3, -1).T for xi in x]
    cos = float((grams[0] * grams[1]).sum() / grams[0].norm() / grams[1].norm())
    assert float(objectives.diversity("a")({"a": x})) == pytest.approx(cos, rel=1e-5)
    assert float(objectives.diversity("a")({"a": x[:1]})) == 0.0


def test_objective_errors_name_the_problem() -> None:
    acts = _acts()
    with pytest.raises(ValueError, match="channel 9 out of range"):
        objectives.channel("a", 9)(acts)
    with pytest.raises(ValueError, match="batch index 5"):
        objectives.channel("a", 0, batch=5)(acts)
    with pytest.raises(ValueError, match="direction has 3 entries"):
        objectives.direction("a", [1.0, 2.0, 3.0])(acts)
    with pytest.raises(ValueError, match="non-zero"):
        objectives.direction("a", [0.0, 0.0])
    with pytest.raises(ValueError, match="kind"):
        objectives.layer("a", "max")


def test_objectives_read_the_channel_axis_from_the_layout() -> None:
    g = torch.Generator().manual_seed(0)
    nhwc = torch.randn(2, 3, 3, 5, generator=g)  # [B, H, W, C], C != H
    tokens = torch.randn(2, 10, 5, generator=g)  # class token + 3x3 patches, 5 features
    acts = objectives.LayerOutputs(
        {"a": nhwc, "t": tokens}, layouts={"a": "channels_last", "t": "tokens"}
    )
    channel = objectives.channel
    assert float(channel("a", 4)(acts)) == pytest.approx(float(nhwc[..., 4].mean()))
    assert float(channel("a", 2)({"a": nhwc})) == pytest.approx(float(nhwc[:, 2].mean()))
    assert float(channel("a", 2, axis=1)(acts)) == pytest.approx(float(nhwc[:, 2].mean()))
    assert float(channel("t", 4, batch=1)(acts)) == pytest.approx(float(tokens[1, :, 4].mean()))
    assert float(objectives.neuron("a", 3, x=2, y=0)(acts)) == pytest.approx(
        float(nhwc[:, 0, 2, 3].mean())
    )
    # token grid: the class token comes first, then row-major 3x3 patches; centre = token 1 + 4
    assert float(objectives.neuron("t", 1)(acts)) == pytest.approx(float(tokens[:, 5, 1].mean()))
    vec = torch.tensor([1.0, 0, 0, 2.0, 0])
    dot = float((nhwc @ vec).mean() / vec.norm())
    assert float(objectives.direction("a", vec)(acts)) == pytest.approx(dot, rel=1e-5)
    first = nhwc.permute(0, 3, 1, 2)
    diversity = objectives.diversity
    assert float(diversity("a")(acts)) == pytest.approx(float(diversity("a")({"a": first})))
    with pytest.raises(ValueError, match="channel 5 out of range.* 5 channels"):
        channel("a", 5)(acts)
    with pytest.raises(ValueError, match="channel axis 0"):
        channel("a", 0, axis=0)(acts)


# -- maximize on channels-last and token layers --------------------------------------------------
def _spy(objective: Objective, layer: str, seen: list) -> Objective:
    """``objective``, recording each step's output of ``layer`` and the layouts maximize passed."""

    def fn(acts: objectives.Activations) -> torch.Tensor:
        seen.append((acts[layer].detach().clone(), getattr(acts, "layouts", None)))
        return objective(acts)

    return Objective(fn, layers=objective.layers, name=f"spy({objective.name})")


def test_channel_of_a_channels_last_swin_stage_is_its_last_axis_and_rises() -> None:
    torch.manual_seed(0)
    model = torchvision.models.swin_t()
    before, seen = model_state(model), []
    target = _spy(objectives.channel("features.3", 5), "features.3", seen)
    result = maximize(model, target, settings=_settings(size=64, steps=16, preview_every=0))
    act, layouts = seen[0]
    assert act.shape == (1, 8, 8, 192)  # [B, H, W, C] between Swin's Permute modules
    assert layouts["features.3"] == "channels_last"
    for value, (act, _) in zip(result.history, seen, strict=True):
        assert value == pytest.approx(float(act[..., 5].mean()), rel=1e-5)
    assert result.history[0] != pytest.approx(float(seen[0][0][:, 5].mean()), rel=1e-3)
    assert np.mean(result.history[-3:]) > np.mean(result.history[:3]) + 0.02
    assert_model_unchanged(model, before)


def test_channel_of_a_vit_encoder_layer_is_a_token_feature_and_rises() -> None:
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(image_size=64)  # fixed size: lucid must resize back
    before, seen = model_state(model), []
    layer = "encoder.layers.encoder_layer_5"
    target = _spy(objectives.channel(layer, 3), layer, seen)
    result = maximize(model, target, settings=_settings(size=64, steps=12, preview_every=0))
    act, layouts = seen[0]
    assert act.shape == (1, 17, 768) and layouts[layer] == "tokens"  # class token + 4x4 patches
    for value, (act, _) in zip(result.history, seen, strict=True):
        assert value == pytest.approx(float(act[..., 3].mean()), rel=1e-5)
    assert np.mean(result.history[-3:]) > np.mean(result.history[:3]) + 0.02
    assert result.images[0].shape == (64, 64, 3)
    assert_model_unchanged(model, before)
