"""Shared helpers of the explorer's widget tests: a photo, small models, PNG decoding, the
Maximize tab set up for a short run."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from skimage import data as skdata
from support import assert_model_unchanged, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets import render
from featviz_widgets.widgets import LayerExplorer
from featviz_widgets.widgets._options import page_size

CAT = skdata.chelsea()  # 300x451 RGB


class TinyNet(nn.Module):
    """Named convs, an in-place ReLU, a residual add and a functional flatten (FX nodes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 12, 3, padding=1, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = x + self.relu(self.conv2(x))
        x = self.pool(self.relu(self.conv3(x)))
        return self.fc(torch.flatten(x, 1))


def unchanged(model: nn.Module, before) -> None:
    assert_model_unchanged(model, before)  # bit-identical state, flags, and no hooks


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def feature_image(ex: LayerExplorer) -> np.ndarray:
    return decode(ex.tab_object("maps").image.value)


def expected_grid_shape(ex: LayerExplorer) -> tuple[int, int]:
    maps = ex._data.view(ex.layer).maps
    channels, h, w = maps.shape
    size = page_size(ex._data.view(ex.layer))
    start = (ex.page - 1) * size
    count = min(size, channels - start)
    lay = render.grid_layout(channels, h, w, ex.columns, start=start, count=count)
    return (
        lay.rows * lay.tile_h + (lay.rows - 1) * lay.pad,
        lay.cols * lay.tile_w + (lay.cols - 1) * lay.pad,
    )


def tiny_explorer() -> tuple[nn.Module, LayerExplorer, dict]:
    """A tiny CNN in training mode (it must come back so), its explorer, and its state before."""
    model = make_tiny_cnn()
    model.train()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=64)
    unchanged(model, before)
    return model, ex, before


def fresh_tiny() -> tuple[nn.Module, LayerExplorer, object]:
    """A tiny CNN in an explorer nobody has touched yet (a shared ``tiny`` one has been)."""
    model = make_tiny_cnn()
    return model, LayerExplorer(model, CAT, size=64), model_state(model)


def maximizer_tab(ex: LayerExplorer, steps: int, size: int = 64):
    """The Maximize tab, shown, set for a short run with the lucid preset."""
    tab = ex.tab_object("maximize")
    ex.tab = "Maximize"
    tab.steps.value, tab.size.value, tab.preset.value = steps, size, "lucid"
    return tab
