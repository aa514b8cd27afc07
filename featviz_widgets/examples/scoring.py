"""Score a batch: capture the requested layers and reduce each channel to its mean and max.

Each batch item's output is read as channel maps the way the explorer shows it
(:func:`featviz_widgets.layout.to_channel_maps` with the layer's layout hint): ``[C, H, W]`` for
convolutions and channels-last stages, the patch-token grid for ViT (class token set aside), ``[C,
T, H, W]`` for video, one value per unit for vectors. A channel's *mean* is over all its positions
(space, tokens, time), in float64; its *max* is the largest value, with the position where it was
first reached (row-major), so a receptive-field crop can be cut around it.

Examples
--------
>>> import torch
>>> scores = layer_scores(torch.arange(8.0).reshape(1, 2, 2, 2), hint=None)
>>> scores.means.tolist(), scores.maxes.tolist(), scores.positions.tolist()
([[1.5, 5.5]], [[3.0, 7.0]], [[[1, 1], [1, 1]]])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import layout
from ..engine import Recording, owner_for

__all__ = ["BatchScorer", "LayerScores", "layer_scores"]


@dataclass(frozen=True)
class LayerScores:
    """One layer's per-channel scores for a batch.

    Attributes
    ----------
    means, maxes : float64 ``[N, C]``.
    positions : int64 ``[N, C, D]``: the argmax of each map, as indices into ``map_shape``.
    map_shape : the shape of one channel's map (``(H, W)``, ``(T, H, W)``, or ``()`` for vectors).
    layout : how the output was read (a :data:`featviz_widgets.layout.HINTS` value, ``"vector"``,
        ``"image"`` or ``"folded"``).
    """

    means: np.ndarray
    maxes: np.ndarray
    positions: np.ndarray
    map_shape: tuple[int, ...]
    layout: str


def layer_scores(output: torch.Tensor, hint: str | None) -> LayerScores:
    """Per-channel mean and max (with its position) of a batched layer output ``[N, ...]``.

    Examples
    --------
    >>> tokens = torch.zeros(1, 5, 3)  # a class token and 2 x 2 patch tokens of width 3
    >>> tokens[0, 0] = 100.0  # the class token is not a position on the grid
    >>> layer_scores(tokens, "tokens").means.tolist()
    [[0.0, 0.0, 0.0]]
    """
    if output.dim() < 2:
        raise ValueError(
            f"a layer output of shape {tuple(output.shape)} has no channels to rank; pick a layer "
            "whose output is [N, C, ...] (or tokens, or a channels-last map)"
        )
    values = output.detach().to("cpu", torch.float32).numpy()
    reads = [layout.to_channel_maps(item, hint=hint) for item in values]
    if all(_as_is(read.maps, item) for read, item in zip(reads, values, strict=True)):
        maps = values  # every item read as it is (channels first): no stacked copy
    else:
        maps = np.stack([read.maps for read in reads])
    if reads[0].kind == "vector":
        maps = maps[:, :, None]  # one position per unit
    count, channels = maps.shape[:2]
    map_shape = tuple(int(s) for s in maps.shape[2:]) if reads[0].kind != "vector" else ()
    flat = maps.reshape(count, channels, -1)
    arg = flat.argmax(axis=-1)
    maxes = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0].astype(np.float64)
    if map_shape:
        positions = np.stack(np.unravel_index(arg, map_shape), axis=-1).astype(np.int64)
    else:
        positions = np.zeros((count, channels, 0), dtype=np.int64)
    return LayerScores(
        means=flat.mean(axis=-1, dtype=np.float64),
        maxes=maxes,
        positions=positions,
        map_shape=map_shape,
        layout=reads[0].layout,
    )


def _as_is(maps: np.ndarray, item: np.ndarray) -> bool:
    """Whether ``maps`` is ``item`` itself (a view with the same shape and strides)."""
    return (
        maps.shape == item.shape and maps.strides == item.strides and np.shares_memory(maps, item)
    )


class BatchScorer:
    """Records the requested layers of batch after batch and scores them.

    One engine :class:`~featviz_widgets.engine.Recording`: each forward is a stop-early capture
    that holds the model's lock and restores its state, and each layer is read with the layout
    the explorer gives it (one shapes-only survey of the first image).
    """

    def __init__(self, model: nn.Module, keys: Sequence[str]) -> None:
        self.model = model
        self.keys = list(keys)
        self._recording = Recording(model, self.keys)

    def score(self, batch: torch.Tensor) -> dict[str, LayerScores]:
        """``{key: LayerScores}`` for one ``[N, C, H, W]`` batch."""
        # A video model ranks dataset photos as still clips (the owner's one recipe for it).
        batch = owner_for(self.model).still_clips(batch)
        hints = self._recording.layouts(batch)
        acts = self._recording(batch)
        return {key: layer_scores(acts[key], layout.hint_for(hints, key)) for key in self.keys}
