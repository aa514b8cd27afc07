"""Kernels tab: a layer's weights (RGB tiles for a 3-input conv) and the chosen channel's slices."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from featviz_widgets import render
from featviz_widgets._text import shape_label
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._picking import connect, kernel_tiles, mean_max
from featviz_widgets.widgets._picture import Tiles
from featviz_widgets.widgets._views import summary
from featviz_widgets.widgets.tabs._base import (
    PictureTab,
    PngCache,
    Selection,
    TabContext,
    page_bounds,
)


def weight_of(data: ExplorerData, layer: str) -> np.ndarray | None:
    """The layer's weight as ``[out, in, kh, kw]`` (Linear: ``[out, in]``; Conv3d
    ``[out, in, kt, kh, kw]``, drawn per time slice), or None."""
    weight = data.weight(layer)
    if weight is None:
        return None
    arr = weight.detach().to("cpu", torch.float32).numpy()
    if arr.ndim == 3:  # Conv1d: [out, in, k] -> one-row kernels
        return arr[:, :, None, :]
    return arr


KERNEL_TILE = 32  # px: 3x3 kernels drawn at render's default 16 px are too small to read
KERNEL_SLICES = 1024  # grey slices per page for a many-input conv (render.kernels' own page)
MAX_TILES_ACROSS = 64  # time-slice tiles in one row of a Conv3d stem's kernels
# A matrix page (Linear, 1x1 conv) above this is block-averaged: a 7392 x 7392 layer stays fast
# (and no notebook shows more columns than this anyway).
MATRIX_PIXELS = 1_000_000


class KernelsTab(PictureTab):
    """Every kernel of the layer (paged like the grid), or one output channel's kernel slices."""

    name = "kernels"
    title = "Kernels"
    order = 30

    parts = ("message", "caption", "image")

    def __init__(self, ctx: TabContext) -> None:
        super().__init__(ctx)
        self._summaries = PngCache()  # captions, under the budget like pictures
        self._page_tiles: tuple[Tiles, Any] | None = None  # the page's tiles (_kernels, _matrix)
        connect(self.image, ctx)  # a click on a kernel picks its output channel

    def key(self, sel: Selection) -> tuple:
        # Weights do not depend on the image, so the image id is left out on purpose.
        return (sel.layer, sel.channel, sel.columns, sel.page, sel.normalization, sel.colormap)

    def close(self) -> None:
        self._summaries.clear()

    def draw(self, sel: Selection) -> None:
        data, say = self.ctx.data, self.ctx.text
        weight = weight_of(data, sel.layer)
        if weight is None:
            kind = data.layer_type(sel.layer, self.ctx.lang)
            self._show(None, "", say("kernels_none", layer=sel.layer, kind=kind))
            return
        shape = shape_label(weight.shape)
        self._page_tiles = None  # set by _kernels / _matrix, the pages with a tile per output
        if weight.ndim == 5 and weight.shape[2] > 1 and weight.shape[3:] != (1, 1):
            picture, what = self._slices(weight, sel)
        else:
            picture, what = self._planar(_planar_kernels(weight), sel)
            if weight.ndim == 5 and weight.shape[2] > 1:  # the (k, 1, 1) half of a (2+1)D conv
                what += " · " + say("kernels_temporal", kt=weight.shape[2])
        text = say("kernels_caption", layer=sel.layer, shape=shape, what=what,
                   summary=self._summary(data, sel.layer, weight))  # fmt: skip
        self._show(render.to_png(picture), text, "", *(self._page_tiles or ()))

    def _planar(self, weight: np.ndarray, sel: Selection) -> tuple[np.ndarray, str]:
        """A 2-D conv's (or Linear's) weights: one output's slices, a matrix, or every kernel."""
        if isinstance(sel.channel, int) and sel.channel < weight.shape[0]:
            picture = self._one(weight[sel.channel], sel)
            what = self.ctx.text("kernels_output", channel=sel.channel, inputs=weight.shape[1])
            return picture, what
        if weight.ndim == 2 or weight.shape[2:] == (1, 1):
            return self._matrix(weight, sel)
        return self._kernels(weight, sel)

    def _slices(self, weight: np.ndarray, sel: Selection) -> tuple[np.ndarray, str]:
        """A Conv3d ``[out, in, kt, kh, kw]`` per time slice: the kt slices of a kernel side by
        side (one row per output for RGB / one-input convs, kt rows of input slices otherwise)."""
        say, (out, n_in, kt, kh, kw) = self.ctx.text, weight.shape
        norm, cmap = sel.normalization, sel.colormap
        if isinstance(sel.channel, int) and sel.channel < out:  # a row per input, kt across
            picture = render.grid(weight[sel.channel].reshape(n_in * kt, kh, kw), kt, norm=norm,
                                  cmap=cmap)  # fmt: skip
            what = say("kernels_output", channel=sel.channel, inputs=n_in)
            return picture, f"{what} · {say('kernels_time', kt=kt)}"
        start, count = page_bounds(sel, out)
        by_time = weight.transpose(0, 2, 1, 3, 4)  # [out, kt, in, kh, kw]
        if n_in in (1, 3):  # one tile per slice, kt tiles in a row per output
            # Grid width counts outputs per row (each kt tiles wide): one output per row made a
            # stem of 64 outputs a strip 40 times taller than wide.
            per_row = max(1, min(sel.columns, MAX_TILES_ACROSS // kt))
            tiles = by_time.reshape(out * kt, n_in, kh, kw)
            drawn = {"cols": kt * per_row, "start": start * kt, "count": count * kt,
                     "min_tile": KERNEL_TILE}  # fmt: skip
            picture = render.kernels(tiles, **drawn)
            self._page_tiles = _per_output(kernel_tiles(tiles, **drawn)[0], weight, kt, per_row)
            how = say("kernels_time", kt=kt)
        else:  # an output's tiles are its own (kt rows of input slices): a click picks it
            count = min(count, max(1, KERNEL_SLICES // (n_in * kt)))
            slices = by_time.reshape(out, kt * n_in, kh, kw)
            drawn = {"cols": min(n_in, 64), "start": start, "count": count, "min_tile": KERNEL_TILE}
            picture = render.kernels(slices, **drawn)
            self._page_tiles = kernel_tiles(slices, **drawn)
            how = say("kernels_time_rows", kt=kt, inputs=n_in)
        span = say("kernels_span", start=start + 1, end=start + count, total=out)
        return picture, f"{span} · {how}"

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
        # where each output row is drawn: a click on it picks that output channel
        self._page_tiles = kernel_tiles(weight, start=start, count=count, max_pixels=MATRIX_PIXELS)
        what = self.ctx.text("kernels_rows", start=start + 1, end=start + count,
                             total=weight.shape[0])  # fmt: skip
        step = math.ceil(weight.shape[1] / picture.shape[1])
        if step > 1:
            what += self.ctx.text("kernels_mean", step=step)
        return picture, what

    def _kernels(self, weight: np.ndarray, sel: Selection) -> tuple[np.ndarray, str]:
        start, count = page_bounds(sel, weight.shape[0])
        if weight.shape[1] not in (1, 3):  # a row of `in` slices per kernel: fewer per page
            count = min(count, max(1, KERNEL_SLICES // weight.shape[1]))
        picture = render.kernels(weight, start=start, count=count, min_tile=KERNEL_TILE)
        # where each output's kernel is drawn: a click on it picks that output channel
        self._page_tiles = kernel_tiles(weight, start=start, count=count, min_tile=KERNEL_TILE)
        rgb = self.ctx.text("kernels_rgb") if weight.shape[1] == 3 else ""
        span = self.ctx.text("kernels_span", start=start + 1, end=start + count,
                             total=weight.shape[0])  # fmt: skip
        return picture, span + rgb

    def _summary(self, data: ExplorerData, layer: str, weight: np.ndarray) -> str:
        """The weight statistics caption, computed once per layer (and again after an update)."""
        param = data.weight(layer)
        param = param if param._base is None else param._base  # a Keras kernel, permuted
        key = (layer, param.data_ptr(), param._version)  # _version moves on in-place updates
        return self._summaries.get(key, lambda: summary(weight, self.ctx.lang))


def _planar_kernels(weight: np.ndarray) -> np.ndarray:
    """A (2+1)D conv's half as 2-D kernels: ``(1, k, k)`` -> ``[out, in, k, k]``; ``(k, 1, 1)``
    -> ``[out, in, 1, k]`` (each temporal kernel a row of k); other weights unchanged."""
    if weight.ndim != 5:
        return weight
    if weight.shape[2] == 1:
        return weight[:, :, 0]
    return weight[:, :, :, 0, 0][:, :, None, :]


def _per_output(tiles: Tiles, weight: np.ndarray, kt: int, per_row: int) -> tuple[Tiles, None]:
    """Tiles of a Conv3d drawn one time slice per tile, as its output channels: tile ``i`` is
    slice ``i % kt`` of output ``i // kt`` (a click picks the output, the readout its weights)."""
    outputs = np.asarray(tiles.channels, dtype=np.int64) // kt
    means, maxes = mean_max(weight[outputs])
    return (
        replace(tiles, channels=outputs.tolist(), cols=per_row, means=means, maxes=maxes),
        None,
    )
