"""Helpers the detection and segmentation tests share (a plain module, like ``support``)."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

RANDOM = {"weights": None, "weights_backbone": None}


def build(builder) -> torch.nn.Module:
    torch.manual_seed(0)
    return builder()


def decode(png: bytes | None) -> np.ndarray:
    assert png is not None
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def own_output(model: torch.nn.Module, x) -> object:
    """The model's own eval-mode output, its train/eval flags put back exactly."""
    flags = {name: module.training for name, module in model.named_modules()}
    try:
        with torch.no_grad():
            return model.eval()(x)
    finally:
        for name, module in model.named_modules():
            module.training = flags[name]


def square(photo: Image.Image, resize: int, side: int) -> Image.Image:
    """torchvision's recipe, written out: short side to ``resize``, centre ``side`` crop."""
    resized = F.resize(photo, [resize], interpolation=InterpolationMode.BILINEAR, antialias=True)
    return F.center_crop(resized, [side])


def pixels(picture: Image.Image) -> torch.Tensor:
    return F.pil_to_tensor(picture).float() / 255
