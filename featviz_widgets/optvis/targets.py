"""Which layer is worth maximizing: the receptive-field rule.

A unit that sees 3x3 pixels of a 128 px picture has a 3x3 optimum, tiled: high-frequency texture
that tells a student nothing (and, the first layers being nearly linear in the pixels, saturates).
So when the chosen layer sees less than ``MIN_FRACTION`` of the picture's side, the nearest layer
after it that sees enough is maximized instead, lifted to the outermost block that holds it but
not the chosen layer (``features.3``, not ``features.3.conv.1.0``), and the caption says so. The
user's explicit choice always wins: the widget passes ``explicit=True`` and the rule keeps it.

Examples
--------
>>> pick = layer_to_maximize(model, "features.0.0", 128, candidates)  # doctest: +SKIP
>>> pick.layer, pick.reason  # doctest: +SKIP
('features.3', 'features.0.0 sees 3x3 pixels; showing features.3, pick a layer to override')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import nn

from ..engine import ReceptiveField, receptive_field
from ..messages import Message

__all__ = ["MIN_FRACTION", "LayerChoice", "layer_to_maximize"]

MIN_FRACTION = 1 / 8  # of the picture's side: below it a layer's optimum is a tiled texture


@dataclass(frozen=True)
class LayerChoice:
    """The layer to maximize, the one that was asked for, and why they differ ("" when not).

    ``reason`` is the message ``layer_moved`` (a ``str``: its English) when the layer moved.
    """

    layer: str
    asked: str
    field: ReceptiveField | None
    reason: str = ""

    @property
    def moved(self) -> bool:
        return self.layer != self.asked


def layer_to_maximize(
    model: nn.Module,
    layer: str,
    size: int,
    candidates: Sequence[str],
    *,
    explicit: bool = False,
    channel_axes: Mapping[str, int] | None = None,
) -> LayerChoice:
    """``layer``, or the nearest candidate after it whose units see enough of a ``size`` px picture.

    Parameters
    ----------
    candidates : sequence of str
        Module names in execution order that can be maximized (4-D maps, tokens).
    explicit : bool
        The user picked ``layer`` themselves: it is kept, whatever it sees.
    channel_axes : mapping, optional
        Channel axis per layer for the probe (channels-last maps and tokens: -1); default 1.

    Examples
    --------
    >>> layer_to_maximize(model, "layer2", 128, names).moved  # doctest: +SKIP
    False
    """
    axes = channel_axes or {}

    def field(name: str) -> ReceptiveField:
        return _field(model, name, size, axes.get(name, 1))

    asked = field(layer)
    if explicit or asked.fraction >= MIN_FRACTION:
        return LayerChoice(layer, layer, asked)
    later = list(candidates)[list(candidates).index(layer) + 1 :] if layer in candidates else []
    for name in later:
        if field(name).fraction >= MIN_FRACTION:
            block = _outermost_block(name, layer, candidates)
            reason = Message("layer_moved", asked=layer, field=asked.label(), layer=block)
            return LayerChoice(block, layer, field(block), reason)
    return LayerChoice(layer, layer, asked)


def _field(model: nn.Module, layer: str, size: int, axis: int) -> ReceptiveField:
    """By graph arithmetic when the model traces (every layer at once), else by probe."""
    try:
        return receptive_field(model, layer, size, method="graph")
    except ValueError:
        return receptive_field(model, layer, size, channel_axis=axis)


def _outermost_block(name: str, asked: str, candidates: Sequence[str]) -> str:
    """The outermost candidate that contains ``name`` but not ``asked`` (``name`` itself if none)."""
    parts = name.split(".")
    for depth in range(1, len(parts) + 1):
        block = ".".join(parts[:depth])
        holds_asked = asked == block or asked.startswith(block + ".")
        if block in candidates and not holds_asked:
            return block
    return name
