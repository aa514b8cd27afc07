"""Where attribution looks: the layer's maps, read through the explorer's layouts, with their graph.

A layer's output is read as ``[C, H, W]`` maps exactly as the explorer shows it (ViT tokens with
their prefix tokens set aside, channels-last Swin and ConvNeXt, MaxViT windows): the layout code in
:mod:`featviz_widgets.layout` is run once on an array of *positions* (0, 1, 2, ... in the output's
own shape), which turns it into an index map. Gathering a tensor with that map is the same reading,
differentiable, so gradients and activations arrive as ``[N, C, H, W]`` with no reshape written by
the user.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from .._text import did_you_mean
from ..layout import hint_for, to_channel_maps
from ._capture import survey
from ._layouts import layouts
from ._outputs import segmentation_scores
from ._recorder import parse_key
from ._recording import Recording
from .owner import ModelOwner

# Layouts whose maps are a picture of the input: a single "image" (an unexplained 2-D output) or
# "folded" axes are not, and video maps are left to the time-step view.
SPATIAL_LAYOUTS = ("channels_first", "channels_last", "tokens", "windows", "grid_windows")


@dataclass(frozen=True)
class LayerMaps:
    """How to read one layer's output as maps: the flat positions of its ``[C, H, W]`` maps."""

    name: str
    shape: tuple[int, ...]
    index: np.ndarray  # int64 [C, H, W]: positions inside one batch item's output

    def gather(self, output: Tensor) -> Tensor:
        """The output ``[N, ...]`` as maps ``[N, C, H, W]`` (differentiable)."""
        flat = output.reshape(output.shape[0], -1)
        index = torch.from_numpy(self.index).to(flat.device)
        return flat[:, index]


@dataclass(frozen=True)
class ModelLayers:
    """One shapes-only forward of the model at an input shape: every layer's output and layout."""

    order: list[str]  # module names whose single-tensor first output ran, in execution order
    shapes: dict[str, tuple[int, ...]]
    hints: dict[str, str]
    batch: int = 1  # the input's batch size: an output with another one is no per-image map
    # A segmentation model's class count: maps with one channel per class are its scores, the
    # answer itself rather than a layer that explains it.
    pixel_classes: int | None = None
    # name -> (C, H, W) of its maps, or None without a spatial map (filled as layers are asked)
    _grids: dict[str, tuple[int, ...] | None] = field(default_factory=dict, repr=False)

    def grid(self, name: str) -> tuple[int, ...] | None:
        """The ``(C, H, W)`` of the layer's maps, or None when it has no spatial map."""
        if name not in self._grids:
            # a zero-stride stand-in: the layout is read from the shape, nothing is allocated
            stand_in = np.broadcast_to(np.float32(0), self.shapes[name][1:])
            view = to_channel_maps(stand_in, hint=hint_for(self.hints, name))
            layout = view.layout.split("+")[0]
            # Windows fold the batch with the window count; any other batch change means rows
            # that are not images (a detector's regions of interest, one map per proposal).
            per_image = self.shapes[name][0] == self.batch or "windows" in layout
            spatial = view.kind == "spatial" and layout in SPATIAL_LAYOUTS and per_image
            self._grids[name] = tuple(view.maps.shape) if spatial else None
        return self._grids[name]

    def maps(self, name: str) -> LayerMaps | None:
        """The layer read as ``[C, H, W]`` maps, or None when it has no spatial map."""
        if self.grid(name) is None:
            return None
        shape = self.shapes[name]
        positions = np.arange(math.prod(shape[1:]), dtype=np.float64).reshape(shape[1:])
        view = to_channel_maps(positions, hint=hint_for(self.hints, name))
        return LayerMaps(name, shape, view.maps.astype(np.int64))

    def spatial(self) -> list[str]:
        """Layers with a spatial map, in execution order (without a segmentation model's
        per-pixel class scores)."""
        return [
            name
            for name in self.order
            if (grid := self.grid(name)) is not None and grid[0] != self.pixel_classes
        ]


def model_layers(owner: ModelOwner, x: Tensor) -> ModelLayers:
    """The layers and layouts of ``owner.model`` at ``x``'s shape (cached in the owner)."""
    key = ("attribution.layers", tuple(x.shape))
    found = owner.memo.get(key)
    if isinstance(found, ModelLayers):
        return found
    model = owner.model
    found = survey(model, x, what="the layer layouts for attribution")
    shapes, hints = found.shapes, layouts(model, found)
    # A module with one plain tensor output is a layer attribution can read (no calls #2, no parts).
    order = [k for k in shapes if parse_key(k).call == 1 and not parse_key(k).part]
    pixel_scores = segmentation_scores(found.output)
    classes = None if pixel_scores is None else int(pixel_scores.shape[0])
    layers = ModelLayers(order, {k: shapes[k] for k in order}, hints, int(x.shape[0]), classes)
    owner.memo[key] = layers
    return layers


def layer_maps(owner: ModelOwner, layers: ModelLayers, name: str) -> LayerMaps:
    """The named layer's maps; ValueError for an unknown layer or one without a spatial map."""
    if not isinstance(name, str):
        raise TypeError(f"layer must be a layer name (str) or None, got {type(name).__name__}")
    if name not in layers.shapes:
        known = owner.adapter.names(owner.model)
        if name in known:
            raise ValueError(
                f"layer {name!r} gives no single tensor on this input (it never ran, runs more "
                f"than once or returns a tuple); pick one of {_nearby(layers, None)}, or layer=None"
            )
        raise ValueError(
            f"unknown layer {name!r} for {type(owner.model).__name__}.{did_you_mean(name, known)}"
            " list_layers(model) lists its layer names; layer=None picks one"
        )
    maps = layers.maps(name)
    if maps is None:
        raise ValueError(
            f"layer {name!r} has no spatial map (its output is {layers.shapes[name]}): "
            f"attribution needs [C, H, W] maps. Layers nearby that have one: "
            f"{_nearby(layers, name)}; or pass layer=None to pick one"
        )
    return maps


def _nearby(layers: ModelLayers, name: str | None, count: int = 4) -> str:
    """The spatial layers closest to ``name`` in execution order (the last ones for None)."""
    spatial = layers.spatial()
    if not spatial:
        return "(none: this model has no layer with a spatial map)"
    where = layers.order.index(name) if name is not None else len(layers.order)
    position = {n: i for i, n in enumerate(layers.order)}
    closest = sorted(spatial, key=lambda n: abs(position[n] - where))[:count]
    return ", ".join(repr(n) for n in sorted(closest, key=position.__getitem__))


def recording(model: nn.Module, names: Sequence[str]) -> Recording:
    """The named layers recorded as attribution reads them: the whole forward to the model's
    output (:meth:`Recording.with_output`), each layer's first output kept with its graph *by
    reference*, so that gradients of the output can be taken with respect to it.

    (A later in-place op, such as a ``ReLU(inplace=True)`` after a batch norm, then shows in both
    the values and the gradients: the layer is read as it was after that op.)
    """
    return Recording(model, list(names), keep_graph=True, by_reference=True)
