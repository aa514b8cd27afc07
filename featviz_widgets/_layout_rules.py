"""How :func:`featviz_widgets.layout.layout_hints` reads a model: its rules and their helpers.

Private to ``layout`` (NumPy-free duck typing: modules are inspected by class name and attributes);
the rules are documented on ``layout_hints``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

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
FEATURES_LAST_LAYOUTS = ("channels_last", "tokens", "windows", "grid_windows")
KEY_SUFFIX = re.compile(r"(#\d+)?(\[[^\]]*\])*$")
PREFIXED_TOKENS = re.compile(r"^tokens\+([1-9][0-9]*)$")
# Parameters that each add leading tokens before the patches: timm / torchvision / transformers
# class tokens, registers, distillation tokens (CLIP's class_embedding is one vector).
_PREFIX_PARAMETERS = (
    "cls_token",
    "class_token",
    "class_embedding",
    "reg_token",
    "register_tokens",
    "dist_token",
    "distillation_token",
)


def infer(model: Any, shapes: Mapping[str, Any] | Sequence[Any]) -> dict[str, str]:
    """:func:`featviz_widgets.layout.layout_hints` (documented there)."""
    modules = dict(model.named_modules())
    widths = _feature_widths(modules.values())
    prefix = _prefix_tokens(model)
    hints: dict[str, str] = {}
    seen = _Seen()
    for key, module_name, shape in _outputs(shapes):
        module = modules.get(module_name)
        layout = _layout_of(module, shape, seen) if module is not None else None
        if layout is None:
            layout = _by_widths(shape, widths)
        if prefix >= 2 and layout in (None, "tokens") and len(shape) == 3:
            layout = _prefixed_tokens(shape, prefix, widths) or layout
        if layout is None:
            layout = _features_last_by_shape(shape)
        seen.add(shape, layout)
        if layout is not None:
            hints[key] = layout
    return hints


def split_hint(hint: str | None) -> tuple[str | None, int | None]:
    """``("tokens", 5)`` for ``"tokens+5"``; ``(hint, None)`` for any other hint."""
    match = PREFIXED_TOKENS.match(hint) if hint is not None else None
    return ("tokens", int(match[1])) if match else (hint, None)


def square_side(n: int) -> int | None:
    side = math.isqrt(n)
    return side if side * side == n else None


def looks_channels_last(shape: tuple[int, ...]) -> bool:
    """A square map with a different trailing size: ``[S, S, C]``."""
    return shape[0] == shape[1] != shape[2]


class _Seen:
    """The layout of the latest output of each shape (and of each shape but its last axis)."""

    def __init__(self) -> None:
        self.same: dict[tuple, str | None] = {}
        self.all_but_last: dict[tuple, str | None] = {}

    def add(self, shape: tuple, layout: str | None) -> None:
        self.same[shape] = layout
        self.all_but_last[shape[:-1]] = layout


def _outputs(shapes: Mapping[str, Any] | Sequence[Any]) -> Iterable[tuple[str, str, tuple]]:
    """(key, module name, shape) per output, from a capture dict, a ``{key: shape}`` dict (a
    survey's shapes) or a ``list_layers`` result."""
    if isinstance(shapes, Mapping):
        for key, value in shapes.items():
            if isinstance(value, tuple):
                yield key, KEY_SUFFIX.sub("", key), value
            elif hasattr(value, "shape"):
                yield key, KEY_SUFFIX.sub("", key), tuple(value.shape)
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
        if split_hint(inherited)[0] in FEATURES_LAST_LAYOUTS:
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


def _prefix_tokens(model: Any) -> int:
    """How many tokens come before the patches: timm's ``num_prefix_tokens``, else the tokens of
    the model's class / register / distillation token parameters (0 when it has none)."""
    for module in model.modules():
        count = getattr(module, "num_prefix_tokens", None)
        if isinstance(count, int) and not isinstance(count, bool):
            return count
    total = 0
    for name, param in model.named_parameters():
        if name.rsplit(".", 1)[-1] in _PREFIX_PARAMETERS:
            total += int(param.shape[-2]) if len(param.shape) >= 2 else 1
    return total


def _prefixed_tokens(shape: tuple, prefix: int, widths: set[int]) -> str | None:
    """Rule 6: ``tokens+N`` for ``[N, T, D]`` when T - prefix is a square grid of patches."""
    tokens, dim = shape[1], shape[2]
    side = square_side(tokens - prefix) if tokens > prefix else None
    if side is not None and side > 1 and dim in widths:
        return f"tokens+{prefix}"
    return None


def _features_last_by_shape(shape: tuple) -> str | None:
    """Rule 5: the features-last reading :func:`to_channel_maps` gives an unhinted output."""
    if len(shape) != 3:
        return None
    tokens = shape[1]
    squares = (square_side(tokens), square_side(tokens - 1) if tokens > 1 else None)
    return "tokens" if any(side is not None and side > 1 for side in squares) else None
