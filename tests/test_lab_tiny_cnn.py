"""TinyCNN and the training helper: shapes, learning to >95% held-out accuracy, kernels that change."""

from __future__ import annotations

import pytest
import torch

from featviz_widgets import prepare_image
from featviz_widgets.inputs import IMAGENET_MEAN, IMAGENET_STD
from featviz_widgets.lab.patterns import CLASS_NAMES, make_patterns
from featviz_widgets.lab.tiny_cnn import (
    TinyCNN,
    TrainHistory,
    evaluate,
    standardize,
    train,
)


@pytest.fixture(scope="module")
def trained() -> tuple[TinyCNN, torch.Tensor, TrainHistory]:
    """One training run shared by the tests that need a trained model (a few seconds on 2 cores).

    One thread: on a busy machine, torch's spinning OpenMP threads made this run 10x slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = TinyCNN(num_classes=len(CLASS_NAMES))
        kernels_before = model.conv1.weight.detach().clone()
        history = train(
            model, make_patterns(2800, seed=0), epochs=5, test=make_patterns(1400, seed=1), seed=0
        )
    finally:
        torch.set_num_threads(threads)
    return model, kernels_before, history


def test_output_shape_and_named_layers() -> None:
    model = TinyCNN(num_classes=7, width=4)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 7)
    # Other input sizes work thanks to the global pooling.
    assert model(torch.zeros(1, 3, 48, 40)).shape == (1, 7)
    names = [name for name, _ in model.named_children()]
    assert names[:3] == ["conv1", "relu1", "pool1"] and names[-1] == "fc"
    assert model.conv1.weight.shape == (4, 3, 5, 5)


def test_grayscale_variant() -> None:
    model = TinyCNN(num_classes=3, in_channels=1)
    assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 3)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="width"):
        TinyCNN(width=0)


@pytest.mark.timeout(120)
def test_training_reaches_95_percent_on_held_out_data(trained) -> None:
    model, _, history = trained
    assert len(history.loss) == len(history.train_accuracy) == len(history.test_accuracy) == 5
    assert history.test_accuracy[-1] > 0.95, history.test_accuracy
    assert history.loss[-1] < history.loss[0] / 5
    assert history.seconds > 0
    # An independent held-out set (another seed) agrees with the history.
    assert evaluate(model, make_patterns(700, seed=2)) > 0.95
    print(f"trained in {history.seconds:.1f}s, held-out accuracy {history.test_accuracy[-1]:.3f}")


def test_first_layer_kernels_change_and_model_ends_in_eval_mode(trained) -> None:
    model, kernels_before, _ = trained
    kernels_after = model.conv1.weight.detach()
    relative_change = (kernels_after - kernels_before).norm() / kernels_before.norm()
    assert float(relative_change) > 0.3
    assert not model.training


def _roughness(weight: torch.Tensor) -> float:
    """Mean over kernels of (neighbour-difference energy / variance): ~2 for white noise, lower for
    smooth structure such as edges and stripes."""
    k = weight - weight.mean(dim=(2, 3), keepdim=True)
    dx = (k[..., :, 1:] - k[..., :, :-1]).pow(2).mean(dim=(2, 3))
    dy = (k[..., 1:, :] - k[..., :-1, :]).pow(2).mean(dim=(2, 3))
    return float(((dx + dy) / 2 / k.pow(2).mean(dim=(2, 3))).mean())


def test_first_layer_kernels_turn_from_noise_into_smooth_patterns(trained) -> None:
    model, kernels_before, _ = trained
    assert _roughness(kernels_before) > 1.6
    assert _roughness(model.conv1.weight.detach()) < 1.2


def test_standardize_matches_what_the_explorer_feeds_the_model(trained) -> None:
    """prepare_image (LayerExplorer's preprocessing) uses the statistics the model was trained with,
    so the trained model is still right on images prepared that way."""
    model, _, _ = trained
    test = make_patterns(140, seed=3)
    prepared = [prepare_image(image, model, size=32) for image in test.images]
    assert prepared[0].mean == pytest.approx(IMAGENET_MEAN)
    assert prepared[0].std == pytest.approx(IMAGENET_STD)
    with torch.no_grad():
        predictions = torch.cat([model(p.batch).argmax(1) for p in prepared])
    assert float((predictions == test.labels).float().mean()) > 0.9
    ones = standardize(torch.ones(1, 3, 2, 2))
    expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    assert torch.allclose(ones[0, :, 0, 0], torch.tensor(expected))
    with pytest.raises(ValueError, match="N, 3, H, W"):
        standardize(torch.ones(3, 2, 2))


def test_untrained_model_is_near_chance() -> None:
    torch.manual_seed(1)
    assert evaluate(TinyCNN(), make_patterns(700, seed=2)) < 0.5


def test_same_seed_same_run() -> None:
    data = make_patterns(350, seed=3)
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        model = TinyCNN(width=4)
        runs.append((train(model, data, epochs=1, seed=11), model.conv1.weight.detach()))
    assert runs[0][0].loss == runs[1][0].loss
    assert torch.equal(runs[0][1], runs[1][1])


def test_on_epoch_callback_and_no_test_set() -> None:
    seen = []
    history = train(
        TinyCNN(width=2), make_patterns(70), epochs=2, on_epoch=lambda e, h: seen.append(e)
    )
    assert seen == [1, 2]
    assert history.test_accuracy == []


def test_evaluate_restores_the_training_flag() -> None:
    model = TinyCNN(width=2).train()
    evaluate(model, make_patterns(14))
    assert model.training


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="images"):
        train(TinyCNN(), [(torch.zeros(3, 32, 32), 0)])
    with pytest.raises(ValueError, match="epochs"):
        train(TinyCNN(), make_patterns(14), epochs=0)
