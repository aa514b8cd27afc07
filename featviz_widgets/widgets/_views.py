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
from featviz_widgets.widgets.strings import text


@dataclass(frozen=True)
class LayerView:
    """One captured tensor, shaped for display (batch item 0).

    ``kind`` is ``"maps"`` (``maps`` is ``[C, H, W]``), ``"vector"`` (``vector`` is ``[N]``, one
    value per unit) or ``"none"`` (nothing sensible to draw; ``note`` says why). ``frames`` keeps
    ``[C, T, H, W]`` for 3-D convolutions, whose ``maps`` are the mean over time. ``note_key``
    names how the tensor was read (a ``strings`` key, "" when plainly) and ``aside`` counts the
    tokens set aside (class token, registers): :meth:`note` words both in a language.
    """

    key: str
    shape: tuple[int, ...]
    kind: str
    maps: np.ndarray | None = None
    vector: np.ndarray | None = None
    frames: np.ndarray | None = None
    note_key: str = ""
    aside: int = 0

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

    def note(self, lang: str = "en") -> str:
        """How the tensor was read, in ``lang`` ("channels-last layout (class token set aside)")."""
        note = text(lang, self.note_key) if self.note_key else ""
        if self.aside == 1:
            note += text(lang, "note_class_token")
        elif self.aside > 1:
            note += text(lang, "note_class_tokens", extra=self.aside - 1)
        return note

    def arrays(self) -> list[np.ndarray]:
        """The NumPy arrays the view holds (for counting its memory)."""
        return [a for a in (self.maps, self.vector, self.frames) if a is not None]


# layout.to_channel_maps's reading -> its note in the string tables
_NOTES = {
    "channels_last": "note_channels_last",
    "tokens": "note_tokens",
    "windows": "note_windows",
    "grid_windows": "note_grid_windows",
    "image": "note_image",
    "folded": "note_folded",
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
        return LayerView(key, shape, "none", note_key="note_empty")
    arr = tensor.detach()[0].to("cpu", torch.float32).numpy()
    read = layout.to_channel_maps(arr, hint=hint)
    note = _NOTES.get(read.layout, "")
    # the class token, then registers or a distillation token
    aside = 0 if read.prefix_tokens is None else len(read.prefix_tokens)
    if read.kind == "vector":
        return LayerView(key, shape, "vector", vector=read.maps, note_key=note, aside=aside)
    if read.kind == "video":
        frames = np.ascontiguousarray(read.maps)
        return LayerView(key, shape, "maps", maps=frames.mean(axis=1), frames=frames,
                         note_key="note_video")  # fmt: skip
    maps = np.ascontiguousarray(read.maps)
    return LayerView(key, shape, "maps", maps=maps, note_key=note, aside=aside)


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


def summary(values: np.ndarray, lang: str = "en") -> str:
    """min / max / mean / % zeros of an array, as one caption line in ``lang``."""
    return summary_text(summary_numbers(values), lang)


def summary_numbers(values: np.ndarray) -> dict[str, float] | None:
    """min, max and mean of the finite values, and the % of exact zeros (None: none finite)."""
    values = np.atleast_1d(np.asarray(values))
    lo, hi = values.min(), values.max()
    if np.isfinite(lo) and np.isfinite(hi):  # NaN and inf reach min or max: all finite, no mask
        finite = values
    else:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return None
        lo, hi = finite.min(), finite.max()
    zeros = 100.0 * float(np.count_nonzero(values == 0)) / values.size
    return {"low": lo, "high": hi, "mean": finite.mean(dtype=np.float64), "zeros": zeros}


def summary_text(numbers: dict[str, float] | None, lang: str = "en") -> str:
    """The caption line of :func:`summary_numbers` in ``lang``."""
    return text(lang, "no_finite") if numbers is None else text(lang, "summary", **numbers)


# Per-channel statistics: a float64 mean and an int64 rank per channel, plus the caption's numbers.
_STATS_BYTES_PER_CHANNEL = 16
_CAPTION_BYTES = 256


class LayerEntry:
    """One captured layer as the memory budget keeps it: tensor, view, statistics, caption.

    The statistics and the caption's numbers are computed on first use and kept with the entry,
    so an evicted layer takes them along and a recaptured one computes them again. The numbers,
    not the words, are kept: each explorer words them in its own language.
    """

    __slots__ = ("_stats", "_summarized", "_summary", "tensor", "view")

    def __init__(self, key: str, tensor: torch.Tensor, hint: str | None) -> None:
        self.tensor = tensor
        self.view = interpret(key, tensor, hint)
        self._stats: ChannelStats | None = None
        self._summary: dict[str, float] | None = None
        self._summarized = False

    @property
    def stats(self) -> ChannelStats:
        if self._stats is None:
            self._stats = channel_stats(self.view)
        return self._stats

    def summary(self, lang: str = "en") -> str:
        """min / max / mean / % zeros of the displayed values (maps or vector), in ``lang``."""
        view = self.view
        values = view.maps if view.maps is not None else view.vector
        if values is None:
            return text(lang, "nothing_to_summarize")
        if not self._summarized:
            self._summary, self._summarized = summary_numbers(values), True
        return summary_text(self._summary, lang)

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
