"""Kernels tab: a layer's weights (RGB tiles for a 3-input conv) and the chosen channel's slices."""

from __future__ import annotations

import math

import numpy as np
import torch

from featviz_widgets import render
from featviz_widgets._text import shape_label
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._views import summary
from featviz_widgets.widgets.tabs._base import (
    PictureTab,
    PngCache,
    Selection,
    TabContext,
    page_bounds,
)


def weight_of(data: ExplorerData, layer: str) -> np.ndarray | None:
    """The layer's weight as ``[out, in, kh, kw]`` (Linear: ``[out, in]``), or None."""
    weight = data.weight(layer)
    if weight is None:
        return None
    arr = weight.detach().to("cpu", torch.float32).numpy()
    if arr.ndim == 3:  # Conv1d: [out, in, k] -> one-row kernels
        return arr[:, :, None, :]
    if arr.ndim == 5:  # Conv3d: show the middle time slice
        return arr[:, :, arr.shape[2] // 2]
    return arr


KERNEL_TILE = 32  # px: 3x3 kernels drawn at render's default 16 px are too small to read
KERNEL_SLICES = 1024  # grey slices per page for a many-input conv (render.kernels' own page)
# A matrix page (Linear, 1x1 conv) above this is block-averaged: a 7392 x 7392 layer stays fast
# (and no notebook shows more columns than this anyway).
MATRIX_PIXELS = 1_000_000


class KernelsTab(PictureTab):
    """Every kernel of the layer (paged like the grid), or one output channel's kernel slices."""

    name = "kernels"
    title = "Kernels"

    parts = ("message", "caption", "image")

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self._summaries = PngCache()  # captions, under the budget like pictures

    def key(self, sel: Selection) -> tuple:
        # Weights do not depend on the image, so the image id is left out on purpose.
        return (sel.layer, sel.channel, sel.columns, sel.page, sel.normalization, sel.colormap)

    def close(self) -> None:
        self._summaries.clear()

    def draw(self, sel: Selection) -> None:
        data = self.ctx.data
        weight = weight_of(data, sel.layer)
        if weight is None:
            kind = data.layer_type(sel.layer)
            self._show(None, "", f"{sel.layer} ({kind}) has no weights to show.")
            return
        if isinstance(sel.channel, int) and sel.channel < weight.shape[0]:
            picture, what = self._one(weight[sel.channel], sel), f"output {sel.channel}"
            what += f": {weight.shape[1]} inputs"
        elif weight.ndim == 2 or weight.shape[2:] == (1, 1):
            picture, what = self._matrix(weight, sel)
        else:
            picture, what = self._kernels(weight, sel)
        shape = shape_label(weight.shape)
        text = f"{sel.layer} weight {shape} · {what} · {self._summary(data, sel.layer, weight)}"
        self._show(render.to_png(picture), text, "")

    def _one(self, kernel: np.ndarray, sel: Selection) -> np.ndarray:
        """One output's weights: a strip for a Linear row or a 1x1 kernel, else a tile per slice."""
        if kernel.ndim == 1 or kernel.shape[1:] == (1, 1):
            return render.vector_strip(kernel.ravel(), cmap=sel.colormap, norm=sel.normalization)
        cols = min(sel.columns, kernel.shape[0])
        return render.grid(kernel, cols, norm=sel.normalization, cmap=sel.colormap)

    def _matrix(self, weight: np.ndarray, sel: Selection) -> tuple[np.ndarray, str]:
        """Linear and 1x1 weights: the page's rows of the matrix (outputs) over every input."""
        start, count = page_bounds(sel, weight.shape[0])
        picture = render.kernels(weight, start=start, count=count, max_pixels=MATRIX_PIXELS)
        what = f"rows {start + 1}-{start + count} of {weight.shape[0]} (outputs) x inputs"
        step = math.ceil(weight.shape[1] / picture.shape[1])
        if step > 1:
            what += f", each pixel the mean of {step}x{step} weights"
        return picture, what

    def _kernels(self, weight: np.ndarray, sel: Selection) -> tuple[np.ndarray, str]:
        start, count = page_bounds(sel, weight.shape[0])
        if weight.shape[1] not in (1, 3):  # a row of `in` slices per kernel: fewer per page
            count = min(count, max(1, KERNEL_SLICES // weight.shape[1]))
        picture = render.kernels(weight, start=start, count=count, min_tile=KERNEL_TILE)
        rgb = " as RGB tiles" if weight.shape[1] == 3 else ""
        return picture, f"kernels {start + 1}-{start + count} of {weight.shape[0]}{rgb}"

    def _summary(self, data: ExplorerData, layer: str, weight: np.ndarray) -> str:
        """The weight statistics caption, computed once per layer (and again after an update)."""
        param = data.weight(layer)
        param = param if param._base is None else param._base  # a Keras kernel, permuted
        key = (layer, param.data_ptr(), param._version)  # _version moves on in-place updates
        return self._summaries.get(key, lambda: summary(weight))
