"""Activation maximization: the maximize loop (presets, seeds, batches, cancel, state)."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
import torch
import torchvision
from support import assert_model_unchanged, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets.optvis import (
    MaximizeSettings,
    Objective,
    maximize,
    objectives,
)

SMALL = MaximizeSettings(steps=20, size=32, preview_every=5)


def _settings(**changes: object) -> MaximizeSettings:
    return dataclasses.replace(SMALL, **changes)


# -- maximize --------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["lucid", "classic"])
@pytest.mark.parametrize(
    "target",
    [("conv2", 3), objectives.neuron("bn2", 5), objectives.class_logit(4)],
    ids=["channel", "neuron", "class"],
)
def test_objective_rises_over_20_seeded_steps(target: object, preset: str) -> None:
    model = make_tiny_cnn()
    result = maximize(model, target, settings=_settings(preset=preset))
    assert result.steps == 20 and len(result.history) == 20 and not result.cancelled
    start, end = np.mean(result.history[:3]), np.mean(result.history[-3:])
    slope = np.polyfit(np.arange(20), result.history, 1)[0]
    assert end - start > 1e-3 and slope > 0, result.history
    (image,) = result.images
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8 and image.std() > 1


def test_same_seed_same_pictures_other_seed_other_pictures() -> None:
    model = make_tiny_cnn()
    run = lambda seed: maximize(model, ("conv2", 3), settings=_settings(steps=6, seed=seed))  # noqa: E731
    a, b, c = run(1), run(1), run(2)
    assert np.array_equal(a.images[0], b.images[0]) and a.history == b.history
    assert not np.array_equal(a.images[0], c.images[0])


@pytest.mark.parametrize("preset", ["lucid", "classic"])
def test_batch_of_channels_equals_single_runs(preset: str) -> None:
    model = make_tiny_cnn()
    settings = _settings(steps=10, preset=preset)
    channels = [0, 3, 7, 11]
    batch = maximize(model, ("bn2", channels), settings=settings)
    assert len(batch.images) == 4
    for channel, image in zip(channels, batch.images, strict=True):
        single = maximize(model, ("bn2", channel), settings=settings).images[0]
        diff = np.abs(single.astype(int) - image.astype(int))
        assert diff.max() <= 2, (channel, diff.max())
    assert not np.array_equal(batch.images[0], batch.images[1])


def test_model_state_restored_after_a_normal_run() -> None:
    model = make_tiny_cnn().train()  # train mode: BatchNorm would update its stats if not in eval
    model.bn1.eval()  # a deliberately mixed state comes back as it was
    model.conv1.weight.requires_grad_(False)
    model.fc.weight.grad = torch.full_like(model.fc.weight, 0.25)
    before = model_state(model)
    result = maximize(
        model, objectives.class_logit(2) + objectives.channel("bn1", 1), settings=_settings(steps=3)
    )
    assert result.steps == 3
    assert_model_unchanged(model, before)
    assert model.conv2.weight.grad is None and torch.equal(
        model.fc.weight.grad, torch.full_like(model.fc.weight, 0.25)
    )


def test_cancel_is_honoured_within_one_step_and_restores_state() -> None:
    model = make_tiny_cnn().train()
    before = model_state(model)
    cancel = threading.Event()
    seen: list[int] = []

    def on_step(step: int, value: float, preview: np.ndarray | None) -> None:
        seen.append(step)
        if step == 3:
            cancel.set()

    result = maximize(
        model, ("conv2", [1, 2]), settings=_settings(steps=50), on_step=on_step, cancel=cancel
    )
    assert result.cancelled and result.steps == 3 and seen == [1, 2, 3]
    assert len(result.history) == 3 and len(result.images) == 2
    assert_model_unchanged(model, before)
    already = maximize(model, ("conv2", 1), settings=_settings(), cancel=cancel)
    assert already.cancelled and already.steps == 0 and already.images[0].shape == (32, 32, 3)


def test_cancel_from_another_thread_stops_a_long_run() -> None:
    model = make_tiny_cnn()
    cancel = threading.Event()
    times: list[float] = []
    result_box: list = []
    worker = threading.Thread(
        target=lambda: result_box.append(
            maximize(model, ("conv2", 0), settings=_settings(steps=100_000), cancel=cancel,
                     on_step=lambda *a: times.append(time.perf_counter()))
        )
    )  # fmt: skip
    worker.start()
    while len(times) < 3:
        time.sleep(0.005)
    cancel.set()
    set_at = time.perf_counter()
    worker.join(10)
    assert not worker.is_alive()
    result = result_box[0]
    assert result.cancelled and 3 <= result.steps < 100_000
    assert sum(t > set_at for t in times) <= 1  # at most the step already under way finished


@pytest.mark.parametrize("where", ["on_step", "objective", "forward"])
def test_state_restored_after_an_exception(where: str) -> None:
    model = make_tiny_cnn().train()
    before = model_state(model)

    def on_step(step: int, value: float, preview: object) -> None:
        if where == "on_step" and step == 2:
            raise ZeroDivisionError("from the callback")

    def broken(acts: dict) -> torch.Tensor:
        raise ZeroDivisionError("from the objective")

    target = (
        Objective(broken, layers=["conv2"], name="broken") if where == "objective" else ("conv2", 1)
    )
    if where == "forward":  # a model that fails after the hooks are on
        model.fc = nn.Linear(3, 3)  # wrong in_features: fc raises, at 224 x 224 too
        target = objectives.class_logit(0) + objectives.channel("bn2", 0)
        before = model_state(model)
    with pytest.raises((ZeroDivisionError, ValueError)):
        maximize(model, target, settings=_settings(steps=5), on_step=on_step)
    assert_model_unchanged(model, before)


def test_on_step_previews_first_image_every_preview_every_steps() -> None:
    model = make_tiny_cnn()
    calls: list[tuple[int, float, object]] = []
    maximize(
        model, ("conv2", [2, 5]), settings=_settings(steps=12), on_step=lambda *a: calls.append(a)
    )
    assert [c[0] for c in calls] == list(range(1, 13))
    with_preview = [step for step, _, preview in calls if preview is not None]
    assert with_preview == [5, 10, 12]  # every 5 steps, and the last step
    preview = calls[4][2]
    assert preview.shape == (32, 32, 3) and preview.dtype == np.uint8
    assert all(isinstance(value, float) for _, value, _ in calls)


def test_forward_stops_after_the_deepest_needed_layer() -> None:
    model = make_tiny_cnn()
    ran: list[str] = []

    def note(name: str) -> None:  # the scored forwards only, not the first step's shapes survey
        if torch.is_grad_enabled():
            ran.append(name)

    handles = [
        getattr(model, n).register_forward_pre_hook(lambda m, i, n=n: note(n))
        for n in ("conv2", "fc")
    ]
    try:
        maximize(model, ("bn1", 0), settings=_settings(steps=2))
        assert ran == []  # conv2 (after bn1) never ran
        maximize(
            model,
            objectives.channel("bn1", 0) + objectives.channel("conv2", 1),
            settings=_settings(steps=2),
        )
        assert ran == ["conv2", "conv2"]  # stopped before fc
        ran.clear()
        maximize(model, objectives.class_logit(0), settings=_settings(steps=2))
        assert ran == ["conv2", "fc"] * 2  # class logits need the full forward
    finally:
        for handle in handles:
            handle.remove()


def test_grayscale_models_and_weights_normalization() -> None:
    model = make_tiny_cnn(in_channels=1)
    result = maximize(model, ("conv1", 0), settings=_settings(steps=3))
    image = result.images[0]
    assert image.shape == (32, 32, 3) and np.array_equal(image[..., 0], image[..., 2])

    class Preprocess:
        resize_size, mean, std = [32], (0.5,), (0.5,)

    class Weights:
        def transforms(self) -> Preprocess:
            return Preprocess()

    other = maximize(model, ("conv1", 0), settings=_settings(steps=3), weights=Weights())
    assert not np.array_equal(other.images[0], image)  # different input statistics, other picture
    with pytest.raises(TypeError, match="weights enum member"):
        maximize(model, ("conv1", 0), settings=_settings(steps=1), weights=object())


def test_bad_arguments_raise_clear_errors() -> None:
    model = make_tiny_cnn()
    with pytest.raises(ValueError, match="conv2"):
        maximize(model, ("conv_2", 0), settings=_settings(steps=1))
    with pytest.raises(ValueError, match="channel 99 out of range"):
        maximize(model, ("conv2", 99), settings=_settings(steps=1))
    with pytest.raises(TypeError, match="target"):
        maximize(model, "conv2", settings=_settings(steps=1))
    with pytest.raises(TypeError, match="channels must be ints"):
        maximize(model, ("conv2", [1.5]), settings=_settings(steps=1))
    with pytest.raises(ValueError, match="empty"):
        maximize(model, ("conv2", []), settings=_settings(steps=1))
    with pytest.raises(TypeError, match="is_set"):
        maximize(model, ("conv2", 0), settings=_settings(steps=1), cancel=True)
    with pytest.raises(TypeError, match="Module"):
        maximize(model.state_dict(), ("conv2", 0))
    with pytest.raises(ValueError, match="too small"):
        maximize(model, objectives.channel("conv2", 0, batch=2), settings=_settings(batch=2))
    for bad in ({"preset": "deepdream"}, {"steps": 0}, {"size": 4}, {"lr": -1.0}, {"batch": 0}):
        with pytest.raises(ValueError):
            MaximizeSettings(**bad)
    assert hash(MaximizeSettings()) == hash(MaximizeSettings())  # usable as a cache key


def test_objective_target_with_batch_and_diversity_gives_distinct_images() -> None:
    model = make_tiny_cnn()
    target = objectives.channel("conv2", 3) - 0.5 * objectives.diversity("conv2")
    result = maximize(model, target, settings=_settings(steps=8, batch=3))
    assert len(result.images) == 3
    assert not np.array_equal(result.images[0], result.images[1])


def test_classic_preset_shows_a_mean_std_contrast_stretch() -> None:
    model = make_tiny_cnn()
    result = maximize(model, ("conv2", 3), settings=_settings(preset="classic", steps=5))
    image = result.images[0].astype(float)
    # centred on 0.5 with std 0.1 of the [0, 1] range (before rounding/clipping)
    assert image.mean() == pytest.approx(127.5, abs=3)
    assert image.std() == pytest.approx(25.5, abs=3)


# -- real weights ----------------------------------------------------------------------------
@pytest.mark.pretrained
def test_mobilenet_v2_class_pictures_are_ranked_top1_by_the_model() -> None:
    weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
    model = torchvision.models.mobilenet_v2(weights=weights)
    classes = [130, 340, 949, 954, 963]  # flamingo, zebra, strawberry, banana, pizza
    target = sum(objectives.class_logit(c, batch=i) for i, c in enumerate(classes))
    started, cpu = time.perf_counter(), time.process_time()
    result = maximize(model, target, settings=MaximizeSettings(steps=32, size=128), weights=weights)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    batch = torch.stack(
        [torch.from_numpy(img).permute(2, 0, 1).float() / 255 for img in result.images]
    )
    mean, std = torch.tensor(weights.transforms().mean), torch.tensor(weights.transforms().std)
    with torch.no_grad():
        logits = model.eval()((batch - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1))
    top1 = logits.argmax(1).tolist()
    hits = sum(t == c for t, c in zip(top1, classes, strict=True))
    print(f"class pictures: top-1 {top1} for {classes}; {elapsed:.1f} s wall, {cpu:.1f} s CPU")
    assert hits >= 4, (top1, classes)
    # CPU time, not wall time: the wall clock measures whoever else shares the machine.
    assert cpu < 150, cpu
