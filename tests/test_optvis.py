"""Activation maximization: parametrizations, transforms, objectives and the maximize loop."""

from __future__ import annotations

import dataclasses
import threading
import time

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
    Objective,
    maximize,
    objectives,
    params,
)
from featviz_widgets.optvis import transforms as T

SMALL = MaximizeSettings(steps=20, size=32, preview_every=5)


def _settings(**changes: object) -> MaximizeSettings:
    return dataclasses.replace(SMALL, **changes)


# -- parametrizations ------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(16, 16), (15, 12), (9, 13)])
def test_fourier_image_matches_numpy_irfft2_with_1_over_f_scale(shape: tuple[int, int]) -> None:
    h, w = shape
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    (spectrum,), image_fn = params.fourier_image(shape, batch=2, channels=3, generator=gens)
    coeffs = spectrum.detach().double().numpy()
    coeffs = coeffs[..., 0] + 1j * coeffs[..., 1]
    freqs = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.rfftfreq(w)[None, :] ** 2)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(h, w))  # 1/f, capped at the lowest frequency
    reference = np.fft.irfft2(coeffs * scale, s=(h, w), norm="ortho") / 4.0
    image = image_fn()
    assert image.shape == (2, 3, h, w) and image.dtype == torch.float32
    np.testing.assert_allclose(image.detach().double().numpy(), reference, rtol=0, atol=1e-6)


def test_fourier_init_is_per_image_and_seeded() -> None:
    def spectrum(seeds: list[int]) -> torch.Tensor:
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        return params.fourier_image(8, batch=len(seeds), generator=gens)[0][0].detach()

    both = spectrum([4, 7])
    assert torch.equal(both[1:], spectrum([7]))  # image 1 does not depend on image 0
    assert not torch.equal(both[0], both[1])
    assert float(both.std()) == pytest.approx(0.01, rel=0.2)


def test_decorrelated_sigmoid_image_matches_numpy() -> None:
    params_, raw = params.pixel_image(
        4, batch=1, sd=1.0, generator=torch.Generator().manual_seed(0)
    )
    rgb = params.to_rgb(raw)().detach().double().numpy()[0]
    m = params.COLOR_CORRELATION_SVD_SQRT.astype(np.float64)
    m = m / np.linalg.norm(m, axis=0).max()
    expected = 1 / (1 + np.exp(-np.einsum("dc,chw->dhw", m, raw().detach().double().numpy()[0])))
    np.testing.assert_allclose(rgb, expected, atol=1e-6)
    assert rgb.min() >= 0 and rgb.max() <= 1


def test_image_returns_params_that_drive_the_image() -> None:
    (p,), image_fn = params.image(16, batch=3, generator=torch.Generator().manual_seed(0))
    image_fn().sum().backward()
    assert p.grad is not None and p.grad.abs().sum() > 0


def test_image_builds_both_presets_images() -> None:
    gens = [torch.Generator().manual_seed(3)]
    (p,), rgb = params.image(8, fft=False, decorrelate=False, sigmoid=False, sd=0.1, mean=0.5,
                             generator=gens)  # fmt: skip
    expected = torch.randn((1, 3, 8, 8), generator=torch.Generator().manual_seed(3)) * 0.1 + 0.5
    torch.testing.assert_close(rgb().detach(), expected)
    assert rgb() is p  # no colour change, no sigmoid: the parameters are the image
    with pytest.raises(ValueError, match="fft=False"):
        params.image(8, mean=0.5)


# -- transforms ------------------------------------------------------------------------------
def test_transforms_are_deterministic_under_a_seed() -> None:
    images = torch.rand(3, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    pipeline = T.compose(T.standard_transforms())
    first = pipeline(images, torch.Generator().manual_seed(5))
    again = pipeline(images, torch.Generator().manual_seed(5))
    other = pipeline(images, torch.Generator().manual_seed(6))
    assert first.shape == (3, 3, 60, 60)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_transforms_draw_per_image_so_batch_equals_single() -> None:
    images = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(2))
    pipeline = T.compose(T.standard_transforms())
    batch = pipeline(images, [torch.Generator().manual_seed(10 + i) for i in range(3)])
    for i in range(3):
        single = pipeline(images[i : i + 1], [torch.Generator().manual_seed(10 + i)])
        torch.testing.assert_close(batch[i : i + 1], single, atol=1e-6, rtol=0)


def test_compose_fuses_scale_and_rotate_into_one_resample() -> None:
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    smooth = torch.stack([torch.sin(2 * xx), torch.cos(3 * yy), xx * yy])[
        None
    ]  # low frequencies only
    scale, rotate = T.random_scale([1.2]), T.random_rotate([20])
    fused = T.compose([scale, rotate])(smooth, None)
    stepwise = rotate(scale(smooth, None), None)
    inner = (slice(None), slice(None), slice(16, 48), slice(16, 48))  # away from border effects
    torch.testing.assert_close(fused[inner], stepwise[inner], atol=0.02, rtol=0)
    assert not torch.allclose(fused, smooth, atol=0.05)


def test_single_transforms_do_what_they_say() -> None:
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6)
    padded = T.pad(2, value=0.5)(x, None)
    assert padded.shape == (2, 3, 10, 10) and float(padded[0, 0, 0, 0]) == 0.5
    crop = T.jitter(2)(x, torch.Generator().manual_seed(0))
    assert crop.shape == (2, 3, 4, 4)
    assert any(
        torch.equal(crop[0], x[0, :, i : i + 4, j : j + 4]) for i in range(3) for j in range(3)
    )
    assert torch.equal(T.random_scale([1.0])(x, None), x)
    assert torch.equal(T.random_rotate([0])(x, None), x)
    flipped = T.random_rotate([180])(x, None)  # 180 degrees is an exact flip of both axes
    torch.testing.assert_close(flipped, x.flip(-1).flip(-2), atol=1e-3, rtol=0)
    zoomed = T.random_scale([2.0])(torch.ones(1, 1, 8, 8), None)
    assert zoomed.shape == (1, 1, 8, 8) and torch.allclose(zoomed, torch.ones(1))
    for bad in (lambda: T.jitter(0), lambda: T.random_scale([]), lambda: T.pad(-1)):
        with pytest.raises(ValueError):
            bad()


def test_lucid_transforms_end_at_the_image_size_and_pass_gradients() -> None:
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    images.requires_grad_(True)
    out = T.compose(T.standard_transforms(64))(images, torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 64, 64)  # pad 12 / jitter 8 / jitter 4 alone would give 76 px
    out.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    x = torch.rand(1, 2, 5, 5)
    assert T.resize(5)(x, None) is x
    expected = torch.nn.functional.interpolate(x, size=(3, 3), mode="bilinear", antialias=False)
    torch.testing.assert_close(T.resize(3)(x, None), expected)
    with pytest.raises(ValueError, match="resize"):
        T.resize(0)


def test_lucid_preset_feeds_fixed_size_models_exactly_the_image_size() -> None:
    torch.manual_seed(0)
    model = FixedSizeCNN()
    sizes: list[tuple[int, ...]] = []
    handle = model.register_forward_pre_hook(lambda m, args: sizes.append(tuple(args[0].shape)))
    try:
        result = maximize(model, objectives.class_logit(1), settings=_settings(steps=4))
    finally:
        handle.remove()
    assert sizes == [(1, 3, 32, 32)] * 4 and result.steps == 4
    assert result.history[-1] > result.history[0]


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


# -- the explorer's Maximize tab on a channels-last layer ------------------------------------------
def test_maximize_tab_runs_a_channels_last_swin_stage() -> None:
    from featviz_widgets.widgets import LayerExplorer  # the only widget test here: tab item 3

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
        tab = ex.maximizer
        tab.steps.value, tab.size.value, tab.preset.value = 4, 64, "lucid"
        assert "press Run" in tab.status.value  # was refused: "not a channels-first feature map"
        tab.run()
        result = ex.wait(60)
        assert result.steps == 4 and result.images[0].shape == (64, 64, 3)
        assert "done" in tab.status.value
    finally:
        ex.close()
    assert_model_unchanged(model, before)
