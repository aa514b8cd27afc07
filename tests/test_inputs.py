"""Tests for featviz_widgets.inputs: every accepted image kind, presets, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from support import make_tiny_cnn
from torchvision.models import MobileNet_V2_Weights, ResNet18_Weights

from featviz_widgets.inputs import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PreparedImage,
    load_image,
    normalization,
    prepare_image,
)


def _rgb(h: int = 40, w: int = 60, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _unnormalize(prepared: PreparedImage) -> np.ndarray:
    """The batch mapped back to uint8 HWC pixels, for comparing with ``display``."""
    mean = torch.tensor(prepared.mean).view(-1, 1, 1)
    std = torch.tensor(prepared.std).view(-1, 1, 1)
    pixels = (prepared.batch[0] * std + mean) * 255
    pixels = pixels.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels


def _check(prepared: PreparedImage, channels: int = 3, size: int = 224) -> None:
    assert prepared.batch.shape == (1, channels, size, size)
    assert prepared.batch.dtype == torch.float32 and prepared.batch.device.type == "cpu"
    assert prepared.display.shape == (size, size, 3) and prepared.display.dtype == np.uint8
    # display is exactly what the model sees, before normalization
    assert np.abs(_unnormalize(prepared).astype(int) - prepared.display).max() <= 1


# -- accepted kinds --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "I", "F", "1", "CMYK", "LA"])
def test_pil_any_mode(mode):
    image = Image.fromarray(_rgb()).convert("RGBA" if mode == "LA" else "RGB")
    if mode == "I;16":
        image = Image.fromarray(np.full((40, 60), 40000, np.uint16))
    elif mode in ("I", "F"):
        image = Image.fromarray(np.full((40, 60), 200, np.int32 if mode == "I" else np.float32))
    else:
        image = image.convert(mode)
    prepared = prepare_image(image, size=32)
    _check(prepared, size=32)
    if mode == "I;16":  # 16-bit scaled from 0..65535, not clipped to white
        assert abs(int(prepared.display[0, 0, 0]) - round(40000 / 257)) <= 1


def test_rgba_transparency_is_composited_over_white():
    pixels = np.zeros((8, 8, 4), np.uint8)  # fully transparent black
    prepared = prepare_image(Image.fromarray(pixels, "RGBA"), size=8)
    assert (prepared.display == 255).all()


def test_paths_str_and_pathlib(tmp_path):
    pixels = _rgb()
    path = tmp_path / "cat.png"
    Image.fromarray(pixels).save(path)
    from_path = prepare_image(path, size=32)
    from_str = prepare_image(str(path), size=32)
    from_array = prepare_image(pixels, size=32)
    assert torch.equal(from_path.batch, from_str.batch)
    assert torch.equal(from_path.batch, from_array.batch)
    assert load_image(path).size == (60, 40)


def test_open_files_and_bytes(tmp_path):
    # matplotlib.cbook.get_sample_data hands out an open binary file: it is an image too.
    path = tmp_path / "cat.png"
    Image.fromarray(_rgb()).save(path)
    expected = prepare_image(path, size=32).batch
    with open(path, "rb") as stream:
        stream.read(3)  # the caller's position is kept, not consumed
        stream.seek(0)
        assert torch.equal(prepare_image(stream, size=32).batch, expected)
        assert stream.tell() == 0
    assert torch.equal(prepare_image(path.read_bytes(), size=32).batch, expected)
    with pytest.raises(ValueError, match="not an image PIL can read"):
        prepare_image(b"not a picture")
    with open(path, encoding="latin-1") as text_mode, pytest.raises(TypeError, match="'rb'"):
        prepare_image(text_mode)


@pytest.mark.parametrize(
    "array",
    [
        _rgb(),
        _rgb()[..., 0],  # HW
        _rgb()[..., :1],  # HW1
        _rgb().astype(np.float32) / 255,  # float 0..1
        _rgb().astype(np.float64),  # float 0..255
        _rgb().astype(np.int64),  # 8-bit values in a wide int type
        np.dstack([_rgb(), np.full((40, 60), 255, np.uint8)]),  # RGBA
    ],
    ids=["uint8", "HW", "HW1", "float01", "float255", "int64", "RGBA"],
)
def test_numpy_arrays(array):
    before = array.copy()
    prepared = prepare_image(array, size=32)
    _check(prepared, size=32)
    assert np.array_equal(array, before)


def test_float_and_uint8_arrays_agree():
    pixels = _rgb()
    as_uint8 = prepare_image(pixels, size=32).batch
    assert torch.equal(as_uint8, prepare_image(pixels / 255.0, size=32).batch)
    assert torch.equal(as_uint8, prepare_image(pixels.astype(np.float32), size=32).batch)


@pytest.mark.parametrize("layout", ["HW", "CHW", "NCHW", "CHW-float", "bf16"])
def test_tensors(layout):
    pixels = torch.from_numpy(_rgb()).permute(2, 0, 1).contiguous()
    tensor = {
        "HW": pixels[0],
        "CHW": pixels,
        "NCHW": pixels[None],
        "CHW-float": pixels.float() / 255,
        "bf16": (pixels.float() / 255).bfloat16(),
    }[layout]
    before = tensor.clone()
    prepared = prepare_image(tensor, size=32)
    _check(prepared, size=32)
    assert torch.equal(tensor, before)
    if layout in ("CHW", "NCHW", "CHW-float"):
        assert torch.equal(prepared.batch, prepare_image(_rgb(), size=32).batch)


# -- preprocessing -----------------------------------------------------------------------------


def test_default_pipeline_resize_crop_normalize():
    prepared = prepare_image(_rgb(300, 400))
    _check(prepared)
    assert prepared.mean == IMAGENET_MEAN and prepared.std == IMAGENET_STD
    small = prepare_image(_rgb(10, 12), size=112)  # upscaled, then cropped
    _check(small, size=112)


@pytest.mark.parametrize(
    "weights", [ResNet18_Weights.IMAGENET1K_V1, MobileNet_V2_Weights.IMAGENET1K_V2]
)
def test_weights_transforms_match_torchvision_exactly(weights):
    image = Image.fromarray(_rgb(300, 400))
    prepared = prepare_image(image, weights=weights)
    expected = weights.transforms()(image).unsqueeze(0)
    assert torch.equal(prepared.batch, expected)
    crop = weights.transforms().crop_size[0]
    _check(prepared, size=crop)


@pytest.mark.parametrize(
    "weights", [ResNet18_Weights.IMAGENET1K_V1, MobileNet_V2_Weights.IMAGENET1K_V2]
)
def test_normalization_reads_the_weights_preset(weights):
    mean, std = normalization(weights)
    preset = weights.transforms()
    assert mean == tuple(preset.mean) and std == tuple(preset.std)
    assert all(isinstance(v, float) for v in mean + std)
    prepared = prepare_image(_rgb(), weights=weights)
    assert (prepared.mean, prepared.std) == (mean, std)


def test_normalization_without_weights_is_imagenet():
    assert normalization(None) == (IMAGENET_MEAN, IMAGENET_STD)
    assert normalization() == (IMAGENET_MEAN, IMAGENET_STD)
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406) and IMAGENET_STD == (0.229, 0.224, 0.225)
    with pytest.raises(TypeError, match="never a string"):
        normalization("IMAGENET1K_V1")


class _NotAnImagePreset:
    def transforms(self):
        return object()


def test_normalization_rejects_weights_without_an_image_preset():
    with pytest.raises(ValueError, match="not an image preset"):
        normalization(_NotAnImagePreset())


def test_channels_follow_the_model():
    gray = prepare_image(_rgb(), make_tiny_cnn(in_channels=1), size=32)
    _check(gray, channels=1, size=32)
    assert len(gray.mean) == 1
    assert (gray.display[..., 0] == gray.display[..., 1]).all()
    rgb = prepare_image(_rgb()[..., 0], make_tiny_cnn(), size=32)  # gray image, RGB model
    _check(rgb, channels=3, size=32)
    no_conv = prepare_image(_rgb(), torch.nn.Linear(2, 2), size=16)
    _check(no_conv, channels=3, size=16)


def test_decompression_bomb_guard_stays_on(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((200, 200), np.uint8)).save(path)
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS > 0
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # so 200x200 counts as a bomb
    with pytest.raises(ValueError, match="decompression-bomb"):
        load_image(path)


# -- bad input -----------------------------------------------------------------------------------


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ValueError, match="image file not found.*check the path"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ValueError, match="is a directory"):
        load_image(str(tmp_path))


def test_non_image_and_truncated_files(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    with pytest.raises(ValueError, match="not an image PIL can read"):
        prepare_image(text)
    whole = tmp_path / "whole.png"
    Image.fromarray(_rgb(64, 64)).save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:200])
    with pytest.raises(ValueError, match="could not decode"):
        prepare_image(cut)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((4,), np.uint8), "1 dims; pass HW or HWC"),
        (np.zeros((2, 4, 4, 3), np.uint8), "4 dims; pass HW or HWC"),
        (np.zeros((4, 4, 2), np.uint8), "2 channels"),
        (np.zeros((3, 8, 8), np.uint8), r"channels-first\? use a.transpose\(1, 2, 0\)"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.zeros((0, 0)), "empty"),
        (np.full((4, 4), np.nan), "NaN or Inf"),
        (np.array([[0.5, np.inf]]), "NaN or Inf"),
        (np.full((4, 4), -0.5), "looks normalized"),
        (np.full((4, 4), 300.0), "rescale"),
        (np.full((4, 4), 70000, np.int64), "rescale"),
        (torch.zeros(2, 3, 8, 8), "batch of 2"),
        (torch.zeros(8, 8, 3), r"channels-last\? use t.permute\(2, 0, 1\)"),
        (torch.zeros(5), "1 dims"),
        (torch.zeros(1, 1, 3, 8, 8), "5 dims"),
        (torch.full((3, 4, 4), float("nan")), "NaN or Inf"),
        (torch.zeros(3, 0, 4), "empty"),
    ],
)
def test_bad_arrays_and_tensors(bad, message):
    before = bad.copy() if isinstance(bad, np.ndarray) else bad.clone()
    with pytest.raises(ValueError, match=message):
        prepare_image(bad)
    if isinstance(bad, np.ndarray):
        assert np.array_equal(bad, before, equal_nan=True)
    else:
        assert torch.equal(bad.nan_to_num(), before.nan_to_num())


@pytest.mark.parametrize(
    "bad",
    [
        None,
        3,
        [[0, 1]],
        np.zeros((4, 4), bool),
        np.zeros((4, 4), complex),
        np.array([["a"]]),
        torch.zeros(4, 4, dtype=torch.bool),
    ],
)
def test_wrong_types(bad):
    with pytest.raises(TypeError):
        prepare_image(bad)


def test_bad_settings():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        prepare_image(_rgb(), model={"conv": 1})
    with pytest.raises(TypeError, match="never a string"):
        prepare_image(_rgb(), weights="DEFAULT")
    with pytest.raises(ValueError, match="size must be a positive int"):
        prepare_image(_rgb(), size=0)
    with pytest.raises(ValueError, match="4 input channels"):
        prepare_image(_rgb(), make_tiny_cnn(in_channels=4))
    with pytest.raises(ValueError, match="1 channel"):
        prepare_image(_rgb(), make_tiny_cnn(in_channels=1), weights=ResNet18_Weights.IMAGENET1K_V1)
