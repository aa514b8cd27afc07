"""Turn one captured activation into something the renderer can draw.

A layer's output for one batch item is not always ``[C, H, W]``: vision transformers emit tokens
``[tokens, dim]``, Swin and ConvNeXt keep ``[H, W, C]`` (channels last) between their ``Permute``
modules, MaxViT attends over window partitions ``[windows, window_pixels, C]`` and classifier heads
emit vectors. :func:`to_channel_maps` reads such an array as ``[C, H, W]`` maps (or a vector, or video
frames); :func:`layout_hints` says, from the model's modules and the shapes of one forward, which layout
each layer's output has (its rules live in ``_layout_rules``), so the reading does not depend on
guessing from the shape alone.

NumPy only: modules are inspected by class name and attributes (duck typing), never by importing torch.

Example
-------
>>> import numpy as np
>>> view = to_channel_maps(np.zeros((17, 768)))  # ViT tokens: class token + 4x4 patches
>>> view.kind, view.layout, view.maps.shape
('spatial', 'tokens', (768, 4, 4))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _layout_rules as _rules
from ._layout_rules import FEATURES_LAST_LAYOUTS as _FEATURES_LAST_LAYOUTS
from ._layout_rules import KEY_SUFFIX as _KEY_SUFFIX
from ._layout_rules import PREFIXED_TOKENS as _PREFIXED_TOKENS
from ._layout_rules import looks_channels_last as _looks_channels_last
from ._layout_rules import split_hint as _split_hint
from ._layout_rules import square_side as _square_side
from ._text import did_you_mean

__all__ = ["HINTS", "ChannelMaps", "channel_axis", "hint_for", "layout_hints", "to_channel_maps"]

HINTS = ("channels_first", "channels_last", "tokens", "windows", "grid_windows", "video")
"""Layouts :func:`to_channel_maps` accepts as ``hint`` (per batch item, batch axis removed).

- ``channels_first``: ``[C, H, W]`` (PyTorch's default), ``[C, L]`` for 1-D signals.
- ``channels_last``: ``[H, W, C]`` (Swin stages, ConvNeXt between its ``Permute`` modules);
  ``[T, H, W, C]`` for video.
- ``tokens``: ``[tokens, dim]`` (ViT); an optional leading class token when tokens = s*s + 1.
  ``tokens+N`` (N >= 2): N leading tokens set aside before the s*s patches (class token plus
  registers, as DINOv2 with registers; or plus a distillation token, as DeiT).
- ``windows``: ``[windows, P*P, C]``, a square grid of P x P windows in row-major order (MaxViT).
- ``grid_windows``: ``[P*P, windows, C]``, the same with the two middle axes swapped (MaxViT's grid
  attention, after its ``SwapAxes``).
- ``video``: ``[C, T, H, W]``.
"""


@dataclass(frozen=True)
class ChannelMaps:
    """One activation, read as something drawable.

    Attributes
    ----------
    maps : np.ndarray
        ``[C, H, W]`` when ``kind == "spatial"``, ``[N]`` when ``"vector"``, ``[C, T, H, W]`` when
        ``"video"``.
    kind : str
        What to draw: ``"spatial"`` -> ``render.grid``, ``"vector"`` -> ``render.vector_strip``,
        ``"video"`` -> ``render.frames``.
    layout : str
        How the input was read: one of :data:`HINTS`, or ``"vector"``, ``"image"`` (a 2-D array
        shown as one map) or ``"folded"`` (leading axes of a >4-D array folded into channels).
    class_token : np.ndarray | None
        The ViT class token ``[dim]`` that was set aside (the first set-aside token), else None.
    prefix_tokens : np.ndarray | None
        Every token set aside ``[N, dim]``: the class token, then registers or a distillation
        token (``tokens+N`` hints), else None.
    """

    maps: np.ndarray
    kind: str
    layout: str
    class_token: np.ndarray | None = None
    prefix_tokens: np.ndarray | None = None


def to_channel_maps(act: Any, *, hint: str | None = None) -> ChannelMaps:
    """Read one batch item's activation as ``[C, H, W]`` maps, a vector or video frames.

    Parameters
    ----------
    act : array-like
        The activation of a single batch item (batch axis removed), e.g. ``acts["layer"][0].numpy()``.
    hint : str, optional
        The layout, one of :data:`HINTS`, usually from :func:`layout_hints`. A hint that does not
        fit the shape (e.g. ``"windows"`` on a non-square partition) falls back to the shape rules.

    Returns
    -------
    ChannelMaps
        ``maps``, ``kind`` ("spatial" / "vector" / "video"), the ``layout`` used, the class token.

    Notes
    -----
    Shape rules without a hint: 0-D/1-D -> vector; 2-D ``[T, D]`` -> tokens when T = s*s or s*s + 1
    (the first token set aside as the class token), else one ``[1, A, B]`` image; 3-D ``[A, B, C]`` ->
    channels last when ``A == B != C`` (a square map with channels trailing), else channels first;
    4-D -> video ``[C, T, H, W]``; more axes -> leading axes folded into channels. Spatial results
    of 1 x 1 pixels become vectors (global pools). Axes are never resampled: ``maps`` is a view or a
    transposed copy of ``act`` (as float32 when ``act`` is not floating point).

    Examples
    --------
    >>> to_channel_maps(np.zeros((7, 7, 768)), hint="channels_last").maps.shape
    (768, 7, 7)
    >>> to_channel_maps(np.zeros((64, 49, 32)), hint="windows").maps.shape
    (32, 56, 56)
    """
    if hint is not None and hint not in HINTS and not _PREFIXED_TOKENS.match(hint):
        raise ValueError(
            f"unknown layout hint {hint!r}; expected one of {HINTS} or None."
            f"{did_you_mean(hint, HINTS)}"
        )
    arr = np.asarray(act)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    if arr.ndim <= 1:
        return ChannelMaps(arr.reshape(-1), "vector", "vector")
    if arr.ndim == 2:
        return _from_2d(arr, hint)
    if arr.ndim == 3:
        return _spatial(*_from_3d(arr, hint))
    if arr.ndim == 4:
        video = arr.transpose(3, 0, 1, 2) if hint == "channels_last" else arr
        layout = "channels_last" if hint == "channels_last" else "video"
        return ChannelMaps(video, "video", layout)
    folded = arr.reshape(-1, arr.shape[-2], arr.shape[-1])
    return _spatial(folded, "folded")


def _spatial(maps: np.ndarray, layout: str, prefix: np.ndarray | None = None) -> ChannelMaps:
    """Wrap ``[C, H, W]`` maps; a 1 x 1 map per channel is a vector in disguise."""
    class_token = None if prefix is None else prefix[0]
    if maps.shape[1] * maps.shape[2] == 1:
        return ChannelMaps(maps.reshape(-1), "vector", layout, class_token, prefix)
    return ChannelMaps(maps, "spatial", layout, class_token, prefix)


def _from_2d(arr: np.ndarray, hint: str | None) -> ChannelMaps:
    tokens, dim = arr.shape
    hint, prefix = _split_hint(hint)
    if prefix is not None and tokens > prefix:
        side = _square_side(tokens - prefix)
        if side is not None and side > 1:
            return _spatial(arr[prefix:].T.reshape(dim, side, side), "tokens", prefix=arr[:prefix])
        hint = None  # another token count than the hint's: read it by shape instead
    if hint == "channels_first":
        # [C, L] signals: each channel a one-pixel-high strip
        return _spatial(arr[:, None, :], "channels_first")
    if hint in (None, "tokens", "channels_last"):
        side = _square_side(tokens)
        if side is not None and side > 1:
            return _spatial(arr.T.reshape(dim, side, side), "tokens")
        side = _square_side(tokens - 1)
        if side is not None and side > 1:
            # ViT prepends a class token to the s*s patch tokens
            grid = arr[1:].T.reshape(dim, side, side)
            return _spatial(grid, "tokens", prefix=arr[:1])
    return ChannelMaps(arr[None], "spatial", "image")


def _from_3d(arr: np.ndarray, hint: str | None) -> tuple[np.ndarray, str]:
    if hint in ("windows", "grid_windows"):
        windows = arr.transpose(1, 0, 2) if hint == "grid_windows" else arr
        maps = _unpartition(windows)
        if maps is not None:
            return maps, hint
        hint = None  # not a square partition: read it by shape instead
    if hint == "channels_last" or (hint is None and _looks_channels_last(arr.shape)):
        return arr.transpose(2, 0, 1), "channels_last"
    return arr, "channels_first"


def _unpartition(windows: np.ndarray) -> np.ndarray | None:
    """``[gh*gw, P*P, C]`` row-major windows -> ``[C, gh*P, gw*P]``; None unless both are squares."""
    count, pixels, channels = windows.shape
    grid, side = _square_side(count), _square_side(pixels)
    if grid is None or side is None:
        return None
    tiles = windows.reshape(grid, grid, side, side, channels)
    return tiles.transpose(4, 0, 2, 1, 3).reshape(channels, grid * side, grid * side)


def channel_axis(hint: str | None) -> int:
    """The channel axis of a *batched* output ``[N, ...]`` with layout ``hint``: 1 or -1.

    What a channel objective (``act.select(channel_axis(hint), c)``) must index so that channel
    ``c`` is the map :func:`to_channel_maps` shows as channel ``c``.

    Examples
    --------
    >>> channel_axis("channels_last"), channel_axis("tokens+5"), channel_axis(None)
    (-1, -1, 1)
    """
    return -1 if _split_hint(hint)[0] in _FEATURES_LAST_LAYOUTS else 1


def hint_for(hints: Mapping[str, str], key: str) -> str | None:
    """The hint for a capture key, falling back from ``"name#2[0]"`` to the module ``"name"``.

    Examples
    --------
    >>> hint_for({"features.0": "channels_last"}, "features.0#2")
    'channels_last'
    """
    if key in hints:
        return hints[key]
    return hints.get(_KEY_SUFFIX.sub("", key))


def layout_hints(model: Any, shapes: Mapping[str, Any] | Sequence[Any]) -> dict[str, str]:
    """Which layout each layer's output has, from the modules and the shapes of one forward.

    Parameters
    ----------
    model : nn.Module
        The model (anything with ``named_modules()``; inspected by class name and attributes).
    shapes : mapping or sequence
        The outputs of one forward *in execution order*, batch axis included: either a capture
        result (``{key: tensor}`` from ``capture(model, x)``, keys like ``"name"`` / ``"name[0]"`` /
        ``"name#2"``) or ``list_layers(model, example)`` (items with ``.name`` and ``.shapes``).

    Returns
    -------
    dict[str, str]
        Key (capture key, or module name for ``LayerInfo`` items) -> one of :data:`HINTS`, for every
        output the rules could place. Look keys up with :func:`hint_for`.

    Notes
    -----
    The rules, applied in execution order, each output seeing only the ones before it:

    1. Layout-setting modules: ``Permute`` (by its ``dims``), ``WindowPartition`` (-> windows),
       ``SwapAxes`` of the two middle axes (windows <-> grid_windows), ``MultiheadAttention``
       (-> tokens), convolutions / batch and group norms / pools / ``LayerNorm2d`` (-> channels first).
    2. ``Linear`` / ``LayerNorm`` act on the last axis: they keep the layout of the latest earlier
       output whose shape matches in all but the last axis, else features are last (channels last for
       ``[N, H, W, C]``, tokens for ``[N, T, D]``).
    3. Any other module keeps the layout of the latest earlier output of the same shape (dropouts,
       activations, attention blocks, containers that end in one of their children).
    4. Otherwise a 3-D item ``[A, B, C]`` is compared with the model's feature widths (conv
       ``out_channels``, norm ``num_features`` / ``normalized_shape``, ``Linear`` features):
       ``C`` a width and ``A`` not -> channels last; ``A`` a width and ``C`` not -> channels first.
       Anything still undecided is left out, and :func:`to_channel_maps` uses its shape rules.
    5. A 3-D item still undecided that :func:`to_channel_maps` would read as tokens by its shape
       (``[T, D]`` with T = s*s or s*s + 1) gets ``tokens``, so that :func:`channel_axis` names
       the channels the picture shows. (``[S, S, C]`` stays undecided: a square by chance at one
       input size, such as attention heads x tokens, is no layout.)
    6. In a model with N >= 2 leading tokens (timm's ``num_prefix_tokens``, else its class,
       register and distillation token parameters), a token output ``[T, D]`` (or an undecided
       one whose ``D`` is a feature width) with T - N a square becomes ``tokens+N``.

    Examples
    --------
    >>> from torchvision.models import swin_t  # doctest: +SKIP
    >>> hints = layout_hints(model, capture(model, x))  # doctest: +SKIP
    >>> hint_for(hints, "features.1.0.attn")  # doctest: +SKIP
    'channels_last'
    """
    return _rules.infer(model, shapes)
