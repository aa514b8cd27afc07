"""Which layer is worth maximizing: the receptive-field rule.

A unit that sees 3x3 pixels of a 128 px picture has a 3x3 optimum, tiled: high-frequency texture
that tells a student nothing (and, the first layers being nearly linear in the pixels, saturates).
So when the chosen layer sees less than ``MIN_FRACTION`` of the picture's side, the nearest layer
after it that sees enough is maximized instead, lifted to the outermost block that holds it but
not the chosen layer (``features.3``, not ``features.3.conv.1.0``), and the caption says so. The
user's explicit choice always wins: the widget passes ``explicit=True`` and the rule keeps it.

What can be maximized at all is one rule, :func:`maximizable_channels`, shared by this fallback,
the explorer's Maximize tab and its candidates: an output with a batch axis, a channel axis and at
least one position axis (maps, tokens, windows; a pooled ``C x 1 x 1`` too, its channel's mean
being its one value), that depends on the input pixels. The fallback never moves to a layer that
fails it, so no default target is one that is then refused.

Examples
--------
>>> pick = layer_to_maximize(model, "features.0.0", 128, candidates)  # doctest: +SKIP
>>> pick.layer, pick.reason  # doctest: +SKIP
('features.3', 'features.0.0 sees 3x3 pixels; showing features.3, pick a layer to override')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from torch import nn

from ..engine import ReceptiveField, receptive_field
from ..messages import Message, message_of

__all__ = ["MIN_FRACTION", "LayerChoice", "layer_to_maximize", "maximizable_channels"]

MIN_FRACTION = 1 / 8  # of the picture's side: below it a layer's optimum is a tiled texture


def maximizable_channels(shape: Sequence[int], channel_axis: int) -> int | None:
    """How many channels of a layer output of ``shape`` (batch first) can be maximized, or None.

    The objective is a channel's mean over its positions, so any output with a batch axis, a
    channel axis (``channel_axis``, e.g. 1 for NCHW maps, -1 for tokens) and at least one
    position axis qualifies, a pooled ``C x 1 x 1`` included; a flat ``[N, C]`` vector has no
    positions (its units are classes or features: maximize it as the model's output instead).

    Examples
    --------
    >>> maximizable_channels((1, 8, 1, 1), 1), maximizable_channels((1, 8), 1)
    (8, None)
    """
    if len(shape) < 3 or not -len(shape) < channel_axis < len(shape) or channel_axis == 0:
        return None
    channels = int(shape[channel_axis])
    return channels if channels > 0 else None


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

    asked = field(layer) if explicit else _dependent_field(field, layer)
    if explicit or (asked is not None and asked.fraction >= MIN_FRACTION):
        return LayerChoice(layer, layer, asked)
    later = list(candidates)[list(candidates).index(layer) + 1 :] if layer in candidates else []
    for name in later:
        seen = _dependent_field(field, name)
        if seen is not None and seen.fraction >= MIN_FRACTION:
            block = _outermost_block(name, layer, candidates)
            block_field = _dependent_field(field, block)
            if block_field is None:  # the block's own output ignores the image: keep the layer
                block, block_field = name, seen
            label = asked.label() if asked is not None else "0x0"
            reason = Message("layer_moved", asked=layer, field=label, layer=block)
            return LayerChoice(block, layer, block_field, reason)
    return LayerChoice(layer, layer, field(layer))


def _dependent_field(field: Callable[[str], ReceptiveField], name: str) -> ReceptiveField | None:
    """``field(name)``, or None for a layer whose output does not depend on the input pixels
    (a position-bias table): never a target the rule may move to."""
    try:
        return field(name)
    except ValueError as error:
        message = message_of(error)
        if message is not None and message.code == "input_independent":
            return None
        raise


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
