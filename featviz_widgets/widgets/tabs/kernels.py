"""Kernels tab: a layer's weights (RGB tiles for a 3-input conv) and the chosen channel's slices."""

from __future__ import annotations

import ipywidgets as w
import numpy as np
import torch

from featviz_widgets import render
from featviz_widgets.widgets._data import ExplorerData, summary
from featviz_widgets.widgets.tabs._base import Selection, Tab, caption, image_widget, note
from featviz_widgets.widgets.tabs.feature_maps import page_bounds


def weight_of(data: ExplorerData, layer: str) -> np.ndarray | None:
    """The layer's weight as ``[out, in, kh, kw]`` (Linear: ``[out, in]``), or None."""
    module = data.module(layer)
    weight = getattr(module, "weight", None) if module is not None else None
    if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
        return None
    arr = weight.detach().to("cpu", torch.float32).numpy()
    if arr.ndim == 3:  # Conv1d: [out, in, k] -> one-row kernels
        return arr[:, :, None, :]
    if arr.ndim == 5:  # Conv3d: show the middle time slice
        return arr[:, :, arr.shape[2] // 2]
    return arr


KERNEL_TILE = 32  # px: 3x3 kernels drawn at render's default 16 px are too small to read
KERNEL_SLICES = 1024  # grey slices per page for a many-input conv (render.kernels' own page)


class KernelsTab(Tab):
    """Every kernel of the layer (paged like the grid), or one output channel's kernel slices."""

    title = "Kernels"

    def __init__(self, request) -> None:
        super().__init__(request)
        self.image = image_widget()
        self.caption = w.HTML()
        self.message = w.HTML()
        self.widget = w.VBox([self.message, self.caption, self.image])

    def key(self, sel: Selection) -> tuple:
        # Weights do not depend on the image, so the image id is left out on purpose.
        return (sel.layer, sel.channel, sel.columns, sel.page, sel.normalization, sel.colormap)

    def png(self) -> bytes | None:
        return self.image.value if self.image.layout.display != "none" else None

    def draw(self, data: ExplorerData, sel: Selection) -> None:
        weight = weight_of(data, sel.layer)
        if weight is None:
            module = data.module(sel.layer)
            kind = type(module).__name__ if module is not None else "graph node"
            self._show(None, "", f"{sel.layer} ({kind}) has no weights to show.")
            return
        shape = "x".join(str(s) for s in weight.shape)
        if weight.ndim == 2:
            picture, what = self._linear(weight, sel), "Linear weights, one row per output"
        elif isinstance(sel.channel, int) and sel.channel < weight.shape[0]:
            picture, what = self._one(weight[sel.channel], sel), f"channel {sel.channel}"
            what += f": {weight.shape[1]} input slices"
        elif weight.shape[2:] == (1, 1):
            picture = render.kernels(weight)  # one matrix, rows = outputs: no paging needed
            what = "1x1 kernels as a matrix (rows: outputs, columns: inputs)"
        else:
            start, count = page_bounds(sel, weight.shape[0])
            if weight.shape[1] not in (1, 3):  # a row of `in` slices per kernel: fewer per page
                count = min(count, max(1, KERNEL_SLICES // weight.shape[1]))
            picture = render.kernels(weight, start=start, count=count, min_tile=KERNEL_TILE)
            rgb = " as RGB tiles" if weight.shape[1] == 3 else ""
            what = f"kernels {start + 1}-{start + count} of {weight.shape[0]}{rgb}"
        text = f"{sel.layer} weight {shape} · {what} · {summary(weight)}"
        self._show(render.to_png(picture), text, "")

    def _one(self, kernel: np.ndarray, sel: Selection) -> np.ndarray:
        """One output channel's kernel ``[in, kh, kw]``: a tile per input slice."""
        if kernel.shape[1:] == (1, 1):
            return render.vector_strip(kernel.ravel(), cmap=sel.colormap, norm=sel.normalization)
        cols = min(sel.columns, kernel.shape[0])
        return render.grid(kernel, cols, norm=sel.normalization, cmap=sel.colormap)

    def _linear(self, weight: np.ndarray, sel: Selection) -> np.ndarray:
        if isinstance(sel.channel, int) and sel.channel < weight.shape[0]:
            return render.vector_strip(weight[sel.channel], cmap=sel.colormap)
        return render.kernels(weight)

    def _show(self, png: bytes | None, text: str, message: str) -> None:
        if png is not None:
            self.image.value = png
        self.image.layout.display = None if png is not None else "none"
        self.caption.value = caption(text) if text else ""
        self.message.value = note(message) if message else ""
