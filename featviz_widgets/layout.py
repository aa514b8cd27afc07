"""Turn one captured activation into something the renderer can draw.

A layer's output for one batch item is not always ``[C, H, W]``: vision transformers emit tokens
``[tokens, dim]``, Swin and ConvNeXt keep ``[H, W, C]`` (channels last) between their ``Permute``
modules, MaxViT attends over window partitions ``[windows, window_pixels, C]`` and classifier heads
emit vectors. :func:`to_channel_maps` reads such an array as ``[C, H, W]`` maps (or a vector, or video
frames); :func:`layout_hints` says, from the model's modules and the shapes of one forward, which layout
each layer's output has, so the reading does not depend on guessing from the shape alone.

NumPy only: modules are inspected by class name and attributes (duck typing), never by importing torch.

Example
-------
>>> import numpy as np
>>> view = to_channel_maps(np.zeros((17, 768)))  # ViT tokens: class token + 4x4 patches
>>> view.kind, view.layout, view.maps.shape
('spatial', 'tokens', (768, 4, 4))
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._text import did_you_mean

__all__ = ["HINTS", "ChannelMaps", "channel_axis", "hint_for", "layout_hints", "to_channel_maps"]

HINTS = ("channels_first", "channels_last", "tokens", "windows", "grid_windows", "video")
"""Layouts :func:`to_channel_maps` accepts as ``hint`` (per batch item, batch axis removed).

- ``channels_first``: ``[C, H, W]`` (PyTorch's default), ``[C, L]`` for 1-D signals.
- ``channels_last``: ``[H, W, C]`` (Swin stages, ConvNeXt between its ``Permute`` modules);
  ``[T, H, W, C]`` for video.
- ``tokens``: ``[tokens, dim]`` (ViT); an optional leading class token when tokens = s*s + 1.
- ``windows``: ``[windows, P*P, C]``, a square grid of P x P windows in row-major order (MaxViT).
- ``grid_windows``: ``[P*P, windows, C]``, the same with the two middle axes swapped (MaxViT's grid
  attention, after its ``SwapAxes``).
- ``video``: ``[C, T, H, W]``.
"""

_CHANNELS_FIRST_PREFIXES = (
    "Conv",  # Conv1d/2d/3d, ConvTranspose*, Conv2dNormActivation
    "BatchNorm",
    "InstanceNorm",
    "GroupNorm",
    "LocalResponseNorm",
    "LayerNorm2d",  # ConvNeXt: permutes internally, returns NCHW
    "MaxPool",
    "AvgPool",
    "AdaptiveAvgPool",
    "AdaptiveMaxPool",
    "WindowDepartition",  # MaxViT: windows -> NCHW
)
_FEATURES_LAST_TYPES = ("Linear", "LayerNorm", "RMSNorm")  # act on the last axis only
_FEATURES_LAST_LAYOUTS = ("channels_last", "tokens", "windows", "grid_windows")
_KEY_SUFFIX = re.compile(r"(#\d+)?(\[[^\]]*\])*$")


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
        The ViT class token ``[dim]`` that was set aside, else None.
    """

    maps: np.ndarray
    kind: str
    layout: str
    class_token: np.ndarray | None = None


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
    if hint is not None and hint not in HINTS:
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


def _spatial(maps: np.ndarray, layout: str, class_token: np.ndarray | None = None) -> ChannelMaps:
    """Wrap ``[C, H, W]`` maps; a 1 x 1 map per channel is a vector in disguise."""
    if maps.shape[1] * maps.shape[2] == 1:
        return ChannelMaps(maps.reshape(-1), "vector", layout, class_token)
    return ChannelMaps(maps, "spatial", layout, class_token)


def _square_side(n: int) -> int | None:
    side = math.isqrt(n)
    return side if side * side == n else None


def _from_2d(arr: np.ndarray, hint: str | None) -> ChannelMaps:
    tokens, dim = arr.shape
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
            return _spatial(grid, "tokens", class_token=arr[0])
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


def _looks_channels_last(shape: tuple[int, ...]) -> bool:
    """A square map with a different trailing size: ``[S, S, C]``."""
    return shape[0] == shape[1] != shape[2]


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
    >>> channel_axis("channels_last"), channel_axis("tokens"), channel_axis(None)
    (-1, -1, 1)
    """
    return -1 if hint in _FEATURES_LAST_LAYOUTS else 1


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

    Examples
    --------
    >>> from torchvision.models import swin_t  # doctest: +SKIP
    >>> hints = layout_hints(model, capture(model, x))  # doctest: +SKIP
    >>> hint_for(hints, "features.1.0.attn")  # doctest: +SKIP
    'channels_last'
    """
    modules = dict(model.named_modules())
    widths = _feature_widths(modules.values())
    hints: dict[str, str] = {}
    seen = _Seen()
    for key, module_name, shape in _outputs(shapes):
        module = modules.get(module_name)
        layout = _layout_of(module, shape, seen) if module is not None else None
        if layout is None:
            layout = _by_widths(shape, widths)
        seen.add(shape, layout)
        if layout is not None:
            hints[key] = layout
    return hints


class _Seen:
    """The layout of the latest output of each shape (and of each shape but its last axis)."""

    def __init__(self) -> None:
        self.same: dict[tuple, str | None] = {}
        self.all_but_last: dict[tuple, str | None] = {}

    def add(self, shape: tuple, layout: str | None) -> None:
        self.same[shape] = layout
        self.all_but_last[shape[:-1]] = layout


def _outputs(shapes: Mapping[str, Any] | Sequence[Any]) -> Iterable[tuple[str, str, tuple]]:
    """(key, module name, shape) per output, from a capture dict or a ``list_layers`` result."""
    if isinstance(shapes, Mapping):
        for key, value in shapes.items():
            if hasattr(value, "shape"):
                yield key, _KEY_SUFFIX.sub("", key), tuple(value.shape)
        return
    for info in shapes:
        if info.shapes:  # LayerInfo: first output part; None when the layer never ran
            yield info.name, info.name, tuple(info.shapes[0])


def _layout_of(module: Any, shape: tuple, seen: _Seen) -> str | None:
    kind = type(module).__name__
    explicit = _explicit_layout(module, kind, shape, seen)
    if explicit is not None:
        return explicit
    if kind in _FEATURES_LAST_TYPES and len(shape) >= 3:
        inherited = seen.all_but_last.get(shape[:-1])
        if inherited in _FEATURES_LAST_LAYOUTS:
            return inherited
        return "channels_last" if len(shape) == 4 else "tokens" if len(shape) == 3 else None
    return seen.same.get(shape)


def _explicit_layout(module: Any, kind: str, shape: tuple, seen: _Seen) -> str | None:
    """Rule 1: modules whose class says what layout they produce."""
    if kind == "Permute" and len(shape) in (4, 5):
        dims = [d % len(shape) for d in module.dims]
        if dims == [0, *range(2, len(shape)), 1]:
            return "channels_last"
        if dims == [0, len(shape) - 1, *range(1, len(shape) - 1)]:
            return "channels_first"
        return None
    if kind == "WindowPartition":
        return "windows"
    if kind == "SwapAxes" and len(shape) == 4:
        if {module.a % 4, module.b % 4} != {1, 2}:
            return None
        before = seen.same.get((shape[0], shape[2], shape[1], shape[3]))
        return {"windows": "grid_windows", "grid_windows": "windows"}.get(before or "")
    if kind == "MultiheadAttention" and len(shape) == 3:
        return "tokens" if getattr(module, "batch_first", False) else None
    if kind.startswith(_CHANNELS_FIRST_PREFIXES):
        return "channels_first"
    return None


def _feature_widths(modules: Iterable[Any]) -> set[int]:
    widths: set[int] = set()
    for module in modules:
        for attribute in ("out_channels", "num_features", "in_features", "out_features"):
            value = getattr(module, attribute, None)
            if isinstance(value, int):
                widths.add(value)
        normalized = getattr(module, "normalized_shape", None)
        if isinstance(normalized, (tuple, list)) and normalized:
            widths.add(int(normalized[-1]))
    return widths


def _by_widths(shape: tuple, widths: set[int]) -> str | None:
    """Rule 4: compare a 3-D item's first and last axes with the model's feature widths."""
    if len(shape) != 4:
        return None
    first, last = shape[1] in widths, shape[3] in widths
    if last and not first:
        return "channels_last"
    if first and not last:
        return "channels_first"
    return None
