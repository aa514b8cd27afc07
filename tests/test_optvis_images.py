"""Activation maximization: image parametrizations and the transforms applied every step."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from support import FixedSizeCNN

from featviz_widgets.optvis import (
    MaximizeSettings,
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
