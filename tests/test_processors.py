"""weights= as a transformers image processor or a timm data config: the libraries' own numbers.

Each recipe is checked against the library's own preprocessing of the same photo (the reference),
with a tolerance for the resampling filters (PIL in one, torchvision tensors in the other).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from featviz_widgets._processors import processor_preset
from featviz_widgets.inputs import normalization, prepare_image, preprocessing

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _photo(height: int = 300, width: int = 400) -> Image.Image:
    rows, cols = np.mgrid[0:height, 0:width]
    pixels = np.stack([cols * 255 // width, rows * 255 // height, (rows + cols) % 256], -1)
    return Image.fromarray(pixels.astype(np.uint8))


def _close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == theirs.shape
    # A different resampling implementation moves single pixels by a few levels; the mean
    # difference stays at a fraction of one 8-bit level (x 1/std ~ 2-4).
    diff = (ours - theirs).abs()
    assert float(diff.mean()) < 0.03, float(diff.mean())


@pytest.mark.parametrize(
    ("processor", "size", "crop"),
    [
        ("ViTImageProcessor", (224, 224), None),  # exact height x width
        ("CLIPImageProcessor", (224,), (224, 224)),  # short side, then centre crop
        ("ConvNextImageProcessor", (256,), (224, 224)),  # shortest_edge 224 / crop_pct 0.875
    ],
)
def test_transformers_image_processor_gives_its_own_batch(processor, size, crop) -> None:
    import transformers

    kwargs = {"size": {"shortest_edge": 224}} if processor == "ConvNextImageProcessor" else {}
    proc = getattr(transformers, processor)(**kwargs)
    recipe = preprocessing(weights=proc)
    assert recipe.resize == size and recipe.crop == crop
    assert recipe.mean == tuple(proc.image_mean) and recipe.std == tuple(proc.image_std)
    theirs = proc(images=_photo(), return_tensors="pt")["pixel_values"]
    _close(prepare_image(_photo(), weights=proc).batch, theirs)
    assert normalization(proc) == (recipe.mean, recipe.std)


def test_timm_data_config_and_pretrained_cfg_give_timms_eval_batch() -> None:
    import timm
    from timm.data import create_transform, resolve_data_config

    model = timm.create_model("resnet18", pretrained=False)
    config = resolve_data_config(model=model)
    recipe = preprocessing(weights=config)
    assert recipe.resize == (235,) and recipe.crop == (224, 224)  # 224 / crop_pct 0.95
    assert recipe.interpolation.value == "bicubic" and recipe.mean == config["mean"]
    theirs = create_transform(**config)(_photo())[None]
    _close(prepare_image(_photo(), weights=config).batch, theirs)
    # the model's own pretrained_cfg (a dict) and timm's PretrainedCfg object read the same
    assert preprocessing(weights=model.pretrained_cfg) == recipe
    assert preprocessing(weights=timm.get_pretrained_cfg("resnet18")) == recipe


def test_squash_crop_mode_resizes_both_sides() -> None:
    config = {"input_size": (3, 64, 64), "crop_pct": 1.0, "crop_mode": "squash"}
    preset = processor_preset({**config, "mean": (0.5,) * 3, "std": (0.5,) * 3})
    assert preset is not None and preset.resize == [64, 64] and preset.crop == [64, 64]


def test_other_weights_are_not_processors() -> None:
    from torchvision.models import ResNet18_Weights

    assert processor_preset(ResNet18_Weights.IMAGENET1K_V1) is None
    assert processor_preset({"mean": (0.5,)}) is None
    with pytest.raises(TypeError, match="image processor or a timm data config"):
        normalization(object())


def test_processor_without_normalization_feeds_zero_to_one_pixels() -> None:
    import transformers

    proc = transformers.ViTImageProcessor(do_normalize=False, size={"height": 32, "width": 32})
    batch = prepare_image(_photo(), weights=proc).batch
    assert batch.shape == (1, 3, 32, 32) and 0 <= float(batch.min()) <= float(batch.max()) <= 1
