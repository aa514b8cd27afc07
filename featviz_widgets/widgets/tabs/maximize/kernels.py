"""The first convolution's kernels as pictures, shown beside a Maximize result for that layer.

For the first convolution (and the per-pixel maps right after it: its normalization and
activation) the kernels are the exact answer to "what does this unit like": a linear unit's
favourite input of a given contrast is its own kernel. The tab shows them, upsampled, next to the
optimized picture.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from featviz_widgets.inputs import normalization
from featviz_widgets.widgets._data import ExplorerData


def first_conv(data: ExplorerData) -> tuple[str, nn.Conv2d] | None:
    """The first convolution the image goes through (name, module), or None."""
    for name in data.module_keys():
        module = data.module(name)
        if isinstance(module, nn.Conv2d):
            return name, module
    return None


def first_conv_kernels(
    data: ExplorerData, layer: str, channels: tuple[int, ...] | None
) -> tuple[str, list[np.ndarray]] | None:
    """The first convolution's kernels as uint8 RGB pictures when ``layer`` is that convolution
    or a per-pixel map right after it (its normalization and activation), else None.

    A kernel is drawn as the input pixels it weighs: ``weight / std`` (the model divides the
    pixels by the normalization's std first), around mid-grey, flipped where a following batch
    norm flips the sign. ``channels`` None: every kernel.
    """
    found = first_conv(data)
    if found is None:
        return None
    name, conv = found
    if conv.in_channels != 3 or conv.groups != 1 or not _right_after(data, name, layer):
        return None
    weight = conv.weight.detach().to("cpu", torch.float32).numpy()
    _, std = normalization(data.weights)
    weight = weight / np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    sign = _bn_sign(data, name, layer, weight.shape[0])
    picks = range(weight.shape[0]) if channels is None else channels
    pictures = []
    for c in picks:
        kernel = sign[c] * weight[c].transpose(1, 2, 0)
        kernel = 0.5 + 0.5 * kernel / (np.abs(kernel).max() + 1e-12)
        pictures.append((kernel * 255).round().clip(0, 255).astype(np.uint8))
    return name, pictures


def _right_after(data: ExplorerData, conv: str, layer: str) -> bool:
    """``layer`` is ``conv`` or comes after it inside ``conv``'s parent, before any other conv."""
    if layer == conv:
        return True
    parent = conv.rsplit(".", 1)[0] if "." in conv else ""
    keys = data.module_keys()
    if layer not in keys or not parent or not layer.startswith(parent + "."):
        return False
    between = keys[keys.index(conv) + 1 : keys.index(layer) + 1]
    return all(not isinstance(data.module(k), nn.Conv2d) for k in between)


def _bn_sign(data: ExplorerData, conv: str, layer: str, channels: int) -> np.ndarray:
    sign = np.ones(channels, np.float32)
    if layer == conv:
        return sign
    keys = data.module_keys()
    for key in keys[keys.index(conv) + 1 : keys.index(layer) + 1]:
        module = data.module(key)
        if isinstance(module, nn.BatchNorm2d) and module.weight is not None:
            flips = np.sign(module.weight.detach().to("cpu", torch.float32).numpy())
            sign *= np.where(flips == 0, 1, flips).astype(np.float32)
    return sign
