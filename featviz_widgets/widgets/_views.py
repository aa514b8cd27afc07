"""One captured tensor shaped for display, its channel ranking and caption (no model, no widgets).

``interpret`` turns a captured output into a ``LayerView``: a displayable ``[C, H, W]`` stack (or a
1-D vector). ``LayerEntry`` is what the explorer keeps per layer under the memory budget: the
tensor, its view, and the channel statistics and caption computed from it on first use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from featviz_widgets import layout, render
from featviz_widgets._text import shape_label


@dataclass(frozen=True)
class LayerView:
    """One captured tensor, shaped for display (batch item 0).

    ``kind`` is ``"maps"`` (``maps`` is ``[C, H, W]``), ``"vector"`` (``vector`` is ``[N]``, one
    value per unit) or ``"none"`` (nothing sensible to draw; ``note`` says why). ``frames`` keeps
    ``[C, T, H, W]`` for 3-D convolutions, whose ``maps`` are the mean over time.
    """

    key: str
    shape: tuple[int, ...]
    kind: str
    maps: np.ndarray | None = None
    vector: np.ndarray | None = None
    frames: np.ndarray | None = None
    note: str = ""

    @property
    def channels(self) -> int:
        """Number of selectable channels (units for a vector)."""
        if self.maps is not None:
            return int(self.maps.shape[0])
        return 0 if self.vector is None else int(self.vector.shape[0])

    @property
    def label(self) -> str:
        """Shape without the batch dimension, e.g. ``128x28x28``."""
        return shape_label(self.shape[1:])

    def arrays(self) -> list[np.ndarray]:
        """The NumPy arrays the view holds (for counting its memory)."""
        return [a for a in (self.maps, self.vector, self.frames) if a is not None]


_NOTES = {
    "channels_last": "channels-last layout",
    "tokens": "tokens as a grid",
    "windows": "attention windows re-assembled",
    "grid_windows": "grid-attention windows re-assembled",
    "image": "shown as one map",
    "folded": "leading axes folded into channels",
}


def interpret(key: str, tensor: torch.Tensor, hint: str | None = None) -> LayerView:
    """Shape one captured tensor (batch item 0) for display.

    Parameters
    ----------
    key : str
        Capture key (``"layer2.0.conv1"``, ``"relu#2"``...).
    tensor : torch.Tensor
        The captured output, batch first.
    hint : str, optional
        Its layout from :func:`featviz_widgets.layout.layout_hints` (channels last, tokens...).

    Examples
    --------
    >>> interpret("conv", torch.zeros(1, 8, 4, 4)).maps.shape
    (8, 4, 4)
    """
    shape = tuple(int(s) for s in tensor.shape)
    if tensor.dim() < 2 or tensor.numel() == 0:
        return LayerView(key, shape, "none", note="no channels to show (scalar or empty output)")
    arr = tensor.detach()[0].to("cpu", torch.float32).numpy()
    read = layout.to_channel_maps(arr, hint=hint)
    note = _NOTES.get(read.layout, "")
    if read.prefix_tokens is not None:
        extra = len(read.prefix_tokens) - 1  # registers, a distillation token
        note += f" (class token{f' and {extra} more tokens' if extra else ''} set aside)"
    if read.kind == "vector":
        return LayerView(key, shape, "vector", vector=read.maps, note=note)
    if read.kind == "video":
        frames = np.ascontiguousarray(read.maps)
        return LayerView(key, shape, "maps", maps=frames.mean(axis=1), frames=frames,
                         note="mean over time")  # fmt: skip
    return LayerView(key, shape, "maps", maps=np.ascontiguousarray(read.maps), note=note)


@dataclass(frozen=True)
class ChannelStats:
    """Per-channel means (the ranking) and the strongest-first order."""

    means: np.ndarray
    strongest: np.ndarray


def channel_stats(view: LayerView) -> ChannelStats:
    """Mean per channel and channels sorted strongest first (stable: ties keep index order)."""
    if view.maps is not None:
        means = render.channel_stats(view.maps)["mean"].astype(np.float64)
    elif view.vector is not None:
        means = view.vector.astype(np.float64)
    else:
        means = np.zeros(0)
    order = np.argsort(-np.nan_to_num(means, nan=-np.inf), kind="stable")
    return ChannelStats(means=means, strongest=order)


def summary(values: np.ndarray) -> str:
    """min / max / mean / % zeros of an array, as one caption line."""
    values = np.atleast_1d(np.asarray(values))
    lo, hi = values.min(), values.max()
    if np.isfinite(lo) and np.isfinite(hi):  # NaN and inf reach min or max: all finite, no mask
        finite = values
    else:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return "no finite values"
        lo, hi = finite.min(), finite.max()
    zeros = 100.0 * float(np.count_nonzero(values == 0)) / values.size
    mean = finite.mean(dtype=np.float64)
    return f"min {lo:.3g} · max {hi:.3g} · mean {mean:.3g} · {zeros:.1f}% zeros"


# Per-channel statistics: a float64 mean and an int64 rank per channel, plus the caption string.
_STATS_BYTES_PER_CHANNEL = 16
_CAPTION_BYTES = 256


class LayerEntry:
    """One captured layer as the memory budget keeps it: tensor, view, statistics, caption.

    The statistics and the caption are computed on first use and kept with the entry, so an
    evicted layer takes them along and a recaptured one computes them again.
    """

    __slots__ = ("_stats", "_summary", "tensor", "view")

    def __init__(self, key: str, tensor: torch.Tensor, hint: str | None) -> None:
        self.tensor = tensor
        self.view = interpret(key, tensor, hint)
        self._stats: ChannelStats | None = None
        self._summary: str | None = None

    @property
    def stats(self) -> ChannelStats:
        if self._stats is None:
            self._stats = channel_stats(self.view)
        return self._stats

    @property
    def summary(self) -> str:
        if self._summary is None:
            view = self.view
            values = view.maps if view.maps is not None else view.vector
            self._summary = "nothing to summarize" if values is None else summary(values)
        return self._summary

    @property
    def nbytes(self) -> int:
        """Memory the entry keeps alive, each buffer counted once.

        The tensor's whole storage counts (a part of a tuple output keeps its neighbours alive);
        a view array that is a NumPy window on the tensor (float32 on the CPU) adds nothing.
        """
        total = self.tensor.untyped_storage().nbytes()
        base = _numpy_window(self.tensor)
        counted: list[np.ndarray] = [] if base is None else [base]
        for array in self.view.arrays():
            if not any(np.shares_memory(array, seen) for seen in counted):
                total += array.nbytes
                counted.append(array)
        return total + self.view.channels * _STATS_BYTES_PER_CHANNEL + _CAPTION_BYTES


def _numpy_window(tensor: torch.Tensor) -> np.ndarray | None:
    """The tensor's memory as a NumPy array (no copy), or None when NumPy cannot see it."""
    if tensor.device.type != "cpu":
        return None
    try:
        return tensor.detach().numpy()
    except (TypeError, RuntimeError):  # bfloat16 and other dtypes NumPy lacks
        return None
