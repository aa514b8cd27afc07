"""The Maximize tab's plain parts: the job, the layer it targets, the pictures it shows (no widgets).

``plan_layer`` applies optvis's receptive-field rule to the explorer's layer: a layer that sees
too little of the picture is swapped for the nearest one that sees enough, unless the user picked
it. ``first_conv_kernels`` gives the first convolution's kernels as pictures: for that layer they
are the exact answer (a linear unit's favourite input of a given contrast is its own kernel), so
the tab shows them, upsampled, next to the optimized picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from featviz_widgets import layout, render
from featviz_widgets.inputs import normalization
from featviz_widgets.optvis import objectives
from featviz_widgets.optvis.targets import LayerChoice, layer_to_maximize
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets.strings import text

DISPLAY_MIN = 256  # px: results smaller than this are shown enlarged by an integer factor
SHEET_PAD = 2  # px between the pictures of a sheet (render.tile_rgb's white separators)


@dataclass(frozen=True)
class Job:
    """One optimization request: what to maximize and how (hashable: the cache key).

    ``asked`` is the explorer's layer when the receptive-field rule moved the target elsewhere
    (``reason`` says why); ``strongest`` marks a channel picked as the strongest on the image.
    """

    layer: str
    mode: str
    channels: tuple[int, ...]
    steps: int
    size: int
    preset: str
    seed: int
    asked: str = ""
    reason: str = ""
    strongest: bool = False

    def target(self, lang: str = "en") -> str:
        """What is maximized, e.g. ``features.3 channel 7``."""
        if self.mode == "class":
            return text(lang, "job_class", index=self.channels[0])
        if len(self.channels) == 1:
            return text(lang, "job_channel", layer=self.layer, channel=self.channels[0])
        first, last = self.channels[0], self.channels[-1]
        return text(lang, "job_channels", layer=self.layer, first=first, last=last)

    def describe(self, lang: str = "en") -> str:
        """The target and the settings, e.g. ``conv1 channel 3 · 64 steps · 128px · lucid · seed 0``."""
        what = self.target(lang) + (text(lang, "job_strongest") if self.strongest else "")
        return text(lang, "job_describe", what=what, steps=self.steps, size=self.size,
                    preset=self.preset, seed=self.seed)  # fmt: skip


def candidates(data: ExplorerData) -> tuple[list[str], dict[str, int]]:
    """Module outputs with channel maps or tokens, in execution order, and their channel axes."""
    names = [k for k in data.module_keys() if k in data.infos and len(data.shape(k)) >= 3]
    axes = {k: _probe_axis(layout.channel_axis(layout.hint_for(data.hints, k))) for k in names}
    return names, axes


def _probe_axis(axis: int) -> int:
    return 1 if axis == 1 else -1


def plan_layer(data: ExplorerData, layer: str, size: int, explicit: bool) -> LayerChoice:
    """The receptive-field rule for ``layer`` at the side the model will see."""
    fixed = data.owner.fixed_input_size()
    side = fixed[0] if fixed is not None else size
    names, axes = candidates(data)
    if layer not in names:
        return LayerChoice(layer, layer, None)
    return layer_to_maximize(data.model, layer, side, names, explicit=explicit, channel_axes=axes)


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


def with_kernels(picture: np.ndarray, kernels: list[np.ndarray]) -> np.ndarray:
    """``picture`` with the kernels, upsampled to its height (one tile or a square grid), beside it."""
    height = picture.shape[0]
    cols = int(np.ceil(np.sqrt(len(kernels))))
    rows = -(-len(kernels) // cols)
    k = kernels[0].shape[0]
    factor = max(1, (height - 2 * (rows - 1)) // (rows * k))
    tiles = [tile.repeat(factor, axis=0).repeat(factor, axis=1) for tile in kernels]
    grid = render.tile_rgb(tiles, cols=cols)
    panel = np.full((height, grid.shape[1], 3), 255, np.uint8)
    panel[: grid.shape[0]] = grid[:height]
    gap = np.full((height, max(4, height // 32), 3), 255, np.uint8)
    return np.concatenate([picture, gap, panel], axis=1)


def target_of(job: Job) -> Any:
    """What ``optvis.maximize`` is given for ``job``."""
    if job.mode == "class":
        return objectives.class_logit(job.channels[0])
    if len(job.channels) == 1:
        return (job.layer, job.channels[0])
    return (job.layer, list(job.channels))


def result_bytes(result: Any) -> int | None:
    """Budget bytes of a finished result; None (not cached) for a cancelled one."""
    if result is None or result.cancelled:
        return None
    return sum(int(np.asarray(image).nbytes) for image in result.images) + 1024


def square_side(data: ExplorerData) -> int | None:
    """The side of the explorer's own input when it is square (the model is known to take it)."""
    height, width = data.input_size
    return height if height == width else None


def sheet(images: Any) -> np.ndarray:
    """One picture from a single image, a batch array or a list of images."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        return images
    pictures = list(images)
    return render.tile_rgb(pictures, cols=sheet_cols(len(pictures)), pad=SHEET_PAD)


def sheet_cols(count: int) -> int:
    """Pictures per row of a sheet of ``count`` (a square-ish sheet)."""
    return int(np.ceil(np.sqrt(count)))


def enlarge_factor(shape: tuple[int, ...]) -> int:
    """The integer factor :func:`enlarged` applies to a picture of ``shape`` (1: none)."""
    return max(1, DISPLAY_MIN // max(shape[:2]))


def enlarged(picture: np.ndarray) -> np.ndarray:
    """Small pictures (64-128 px) enlarged with crisp pixels rather than shown thumbnail-size."""
    scale = enlarge_factor(picture.shape)
    return picture if scale == 1 else picture.repeat(scale, axis=0).repeat(scale, axis=1)
