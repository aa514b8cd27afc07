"""faithfulness(): RISE's deletion and insertion scores, batched, against a brute-force loop that
swaps pixels one image at a time in NumPy and runs the plain model on each."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import assert_model_unchanged, make_tiny_cnn, model_state
from torchvision.transforms.functional import gaussian_blur

from featviz_widgets.attribution import Faithfulness, attribute, faithfulness
from featviz_widgets.inputs import prepare_image

SIDE = 12


def photo(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)


def brute_force(model, x: np.ndarray, heat: np.ndarray, start: np.ndarray, end: np.ndarray,
                steps: int, score) -> np.ndarray:  # fmt: skip
    """The curve written out: for each point, swap pixels one by one, then one forward."""
    pixels = heat.size
    ranked = sorted(range(pixels), key=lambda p: (-heat.ravel()[p], p))
    curve = []
    for k in range(steps + 1):
        image = start.copy()
        for p in ranked[: k * pixels // steps]:
            row, col = divmod(p, heat.shape[1])
            image[:, :, row, col] = end[:, :, row, col]
        with torch.no_grad():
            curve.append(score(model(torch.from_numpy(image))))
    return np.array(curve, dtype=np.float64)


def trapezoid(fractions: np.ndarray, curve: np.ndarray) -> float:
    return float(sum((fractions[i + 1] - fractions[i]) * (curve[i + 1] + curve[i]) / 2
                     for i in range(len(curve) - 1)))  # fmt: skip


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_deletion_and_insertion_equal_a_brute_force_loop(batch_size: int) -> None:
    model = make_tiny_cnn()
    before = model_state(model)
    result = attribute(model, photo(), 3, size=SIDE, method="saliency")
    steps = 9  # 144 pixels: 16 per point
    scores = faithfulness(model, photo(), result, steps=steps, batch_size=batch_size)
    assert_model_unchanged(model, before)
    assert isinstance(scores, Faithfulness)
    x = prepare_image(photo(), model, size=SIDE).batch.numpy()
    blurred = gaussian_blur(torch.from_numpy(x), [21, 21], [5.0, 5.0]).numpy()
    probability = lambda logits: float(torch.softmax(logits.double(), 1)[0, 3])  # noqa: E731
    heat = np.abs(result.map)
    deletion = brute_force(model, x, heat, x, np.zeros_like(x), steps, probability)
    insertion = brute_force(model, x, heat, blurred, x, steps, probability)
    np.testing.assert_allclose(scores.deletion_curve, deletion, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(scores.insertion_curve, insertion, rtol=1e-5, atol=1e-7)
    fractions = np.array([k * 144 // steps / 144 for k in range(steps + 1)])
    np.testing.assert_allclose(scores.fractions, fractions)
    assert scores.deletion == pytest.approx(trapezoid(fractions, deletion), rel=1e-6)
    assert scores.insertion == pytest.approx(trapezoid(fractions, insertion), rel=1e-6)
    assert scores.deletion_curve[0] == pytest.approx(float(torch.softmax(
        model(torch.from_numpy(x)).detach().double(), 1)[0, 3]), rel=1e-6)  # fmt: skip


def test_a_channel_target_is_scored_by_its_mean_and_uneven_steps_round_down() -> None:
    model = make_tiny_cnn()
    result = attribute(model, photo(1), ("conv2", 5), size=SIDE)
    scores = faithfulness(model, photo(1), result, steps=5)  # 144 / 5: 28, 57, 86, 115, 144
    x = prepare_image(photo(1), model, size=SIDE).batch.numpy()
    mean = lambda out: float(out[0, 5].double().mean())  # noqa: E731
    head = model[:5]
    expected = brute_force(head, x, result.map, x, np.zeros_like(x), 5, mean)
    np.testing.assert_allclose(scores.deletion_curve, expected, rtol=1e-5, atol=1e-6)
    assert scores.fractions.tolist() == [k * 144 // 5 / 144 for k in range(6)]


def test_a_good_map_deletes_faster_and_inserts_faster_than_its_reverse() -> None:
    """A model whose class 1 reads only the top-left quarter of a picture bright there: its own
    saliency ranks that quarter first; the reversed ranking scores worse on both curves."""

    class Quarter(torch.nn.Module):
        def forward(self, batch: torch.Tensor) -> torch.Tensor:
            evidence = batch[:, :, :6, :6].mean(dim=(1, 2, 3)) * 4
            return torch.stack([torch.zeros_like(evidence), evidence], dim=1)

    picture = np.zeros((SIDE, SIDE, 3), np.uint8)
    picture[:6, :6] = 255
    model = Quarter()
    reading = attribute(model, picture, 1, size=SIDE, method="saliency")
    assert reading.map[6:, :].max() == 0 and reading.map[:, 6:].max() == 0
    assert reading.map[:6, :6].min() > 0
    good = faithfulness(model, picture, reading, steps=4)
    reversed_map = (reading.map == 0).astype(np.float32)
    reverse = type(reading)(**{**reading.__dict__, "map": reversed_map})
    bad = faithfulness(model, picture, reverse, steps=4)
    # The evidence is gone once the first quarter is deleted: both classes then score 0.
    assert good.deletion_curve[0] > 0.99 and good.deletion_curve[1] == pytest.approx(0.5)
    assert bad.deletion_curve[3] == pytest.approx(bad.deletion_curve[0])  # the rest first
    assert good.deletion < bad.deletion and good.insertion > bad.insertion


def test_bad_arguments_are_clear_errors() -> None:
    model = make_tiny_cnn()
    result = attribute(model, photo(), size=SIDE)
    with pytest.raises(TypeError, match="what attribute\\(\\) returned"):
        faithfulness(model, photo(), result.map)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        faithfulness(model, photo(), result, steps=0)
    with pytest.raises(ValueError, match="blur_sigma must be a positive"):
        faithfulness(model, photo(), result, blur_sigma=0)
    with pytest.raises(ValueError, match="not the picture the attribution explains"):
        faithfulness(model, photo(seed=5), result)
    with pytest.raises(ValueError, match="not the picture the attribution explains"):
        faithfulness(model, photo(), result, size=16)
