"""sanity_check(): the model-randomization test (Adebayo et al. 2018), its rank correlation against
SciPy, its copy (seeded, hook-free) and the user's model left as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from scipy.stats import spearmanr
from support import assert_model_unchanged, hook_count, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets.attribution import SanityCheck, attribute, rank_correlation, sanity_check
from featviz_widgets.engine.attribution_random import randomized_copy


def photo(seed: int = 0, side: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)


def test_rank_correlation_equals_scipys_spearman_with_ties() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        first = rng.integers(0, 6, (9, 11)).astype(np.float32)  # many ties, as a clipped CAM
        second = first + rng.normal(0, 2, first.shape).astype(np.float32)
        expected = spearmanr(first.ravel(), second.ravel())[0]
        assert rank_correlation(first, second) == pytest.approx(expected, abs=1e-12)
    constant = np.zeros((4, 4))
    assert rank_correlation(constant, rng.normal(size=(4, 4))) == 0.0
    assert rank_correlation(constant, constant.copy()) == 1.0
    with pytest.raises(ValueError, match="differ in shape"):
        rank_correlation(constant, np.zeros((4, 5)))


def test_the_copy_is_seeded_hook_free_and_the_model_untouched() -> None:
    model = make_tiny_cnn()
    fired = []
    handle = model.fc.register_forward_hook(lambda *args: fired.append(1))
    before = model_state(model)
    rng_before = torch.random.get_rng_state()
    try:
        twin, names = randomized_copy(model, 2, seed=5)
        again, _ = randomized_copy(model, 2, seed=5)
        other, _ = randomized_copy(model, 2, seed=6)
        assert names == ["bn2", "fc"]  # the last two layers with parameters
        assert torch.equal(twin.fc.weight, again.fc.weight)
        assert not torch.equal(twin.fc.weight, other.fc.weight)
        assert not torch.equal(twin.fc.weight, model.fc.weight)
        assert torch.equal(twin.bn2.running_var, torch.ones(16))  # reset, statistics too
        assert torch.equal(twin.conv2.weight, model.conv2.weight)  # below the top: kept
        twin(torch.zeros(1, 3, 8, 8))
        assert fired == [] and hook_count(twin) == 0  # the user's hook stays on the model
        assert torch.equal(torch.random.get_rng_state(), rng_before)
        model(torch.zeros(1, 3, 8, 8))
        assert fired == [1]
    finally:
        handle.remove()
    assert_model_unchanged(model, before)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"top_layers": 0}, ValueError, "top_layers must be a positive int"),
        ({"seed": -1}, ValueError, "seed must be an int >= 0"),
        ({"threshold": 1.5}, ValueError, "threshold must be in"),
        ({"threshold": "high"}, TypeError, "threshold must be a number"),
        ({"method": "gradcan"}, ValueError, "unknown attribution method 'gradcan'"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, error, message) -> None:
    model = make_tiny_cnn()
    before = model_state(model)
    with pytest.raises(error, match=message):
        sanity_check(model, photo(), **kwargs)
    assert_model_unchanged(model, before)
    with pytest.raises(ValueError, match="nothing to randomize"):
        randomized_copy(nn.Sequential(nn.ReLU()), 1)


def test_the_result_holds_both_maps_for_the_same_target_and_layer() -> None:
    model = make_tiny_cnn()
    check = sanity_check(model, photo(), "gradcam", 3, size=32, top_layers=1)
    assert isinstance(check, SanityCheck) and check.layers == ("fc",)
    assert check.original.target == check.randomized.target == 3
    assert check.original.layer == check.randomized.layer == "relu2"
    direct = attribute(model, photo(), 3, size=32)
    np.testing.assert_array_equal(check.original.map, direct.map)
    expected = spearmanr(check.original.heat().ravel(), check.randomized.heat().ravel())[0]
    assert check.correlation == pytest.approx(expected, abs=1e-9)
    assert check.passed == (check.correlation < check.threshold)
    assert check.verdict.startswith("gradcam passes" if check.passed else "gradcam fails")


@pytest.mark.pretrained
def test_mobilenet_v2_separates_gradcam_and_ig_from_guided_backprop() -> None:
    """On the coffee photo: Grad-CAM and Integrated Gradients change when the classifier and the
    layer before it are re-initialized; guided backprop (its ReLU6s guided) barely does."""
    from skimage.data import coffee

    weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
    model = torchvision.models.mobilenet_v2(weights=weights)
    before = model_state(model)
    checks = {
        method: sanity_check(model, coffee(), method, weights=weights, **options)
        for method, options in [
            ("gradcam", {}),
            ("integrated_gradients", {"steps": 8}),
            ("guided_backprop", {}),
        ]
    }
    assert_model_unchanged(model, before)
    assert checks["gradcam"].original.target_name == "espresso"
    assert checks["gradcam"].layers == ("features.18.1", "classifier.1")
    for method in ("gradcam", "integrated_gradients"):
        assert checks[method].passed and checks[method].correlation < 0.6, checks[method]
        assert "changed its map" in checks[method].verdict
    guided = checks["guided_backprop"]
    assert not guided.passed and guided.correlation > 0.95, guided.correlation
    assert guided.verdict.startswith("guided_backprop fails") and "barely changed" in guided.verdict
