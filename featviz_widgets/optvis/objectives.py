"""Objectives: scalars to maximize, computed from the activations of named layers.

Objectives compose with arithmetic, e.g. ``channel("features.3", 5) - 0.1 * diversity("features.3")``.
Layer names are ``named_modules`` names; ``OUTPUT`` (the empty string, the root module's name) is the
model's final output. Channel-based factories take ``axis``: None (default) reads the channel axis from
the layer's layout (channels-last Swin / ConvNeXt stages, ViT tokens and MaxViT windows keep channels
in the last axis), an int forces one. Factories that take ``batch`` score one image of the batch, so a list of channels
is optimized as one batch with ``sum(channel(layer, c, batch=i) for i, c in enumerate(channels))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from numbers import Real

import torch
import torch.nn.functional as F
from torch import Tensor

from ..layout import channel_axis, hint_for

OUTPUT = ""
"""Layer name of the model's final output (the full forward runs; nothing stops early)."""

Activations = Mapping[str, Tensor]


class LayerOutputs(dict):
    """``{layer: output}`` plus ``layouts``: each layer's layout hint (see ``featviz_widgets.layout``).

    ``maximize`` hands objectives this mapping, with the hints of the run's first forward, so that
    ``axis=None`` objectives find the channel axis of channels-last, token and window outputs. A plain
    dict works too: every layer then counts as channels first (channels in dim 1).

    Examples
    --------
    >>> acts = LayerOutputs({"a": torch.zeros(1, 4, 4, 8)}, layouts={"a": "channels_last"})
    >>> channel("a", 7)(acts).shape
    torch.Size([])
    """

    def __init__(self, outputs: Activations, layouts: Mapping[str, str] | None = None) -> None:
        super().__init__(outputs)
        self.layouts: Mapping[str, str] = {} if layouts is None else layouts


class Objective:
    """A scalar to maximize: ``objective(activations) -> 0-dim tensor``.

    Parameters
    ----------
    fn : callable
        Maps ``{layer name: activation tensor}`` to a 0-dim tensor.
    layers : iterable of str
        The layers ``fn`` reads (``OUTPUT`` for the final output); the forward stops after the last one.
    name : str
        Human-readable description, shown in ``repr``.
    batch_size : int
        Smallest batch the objective can score (largest targeted batch index + 1).

    Examples
    --------
    >>> obj = channel("features.3", 5) - 0.1 * diversity("features.3")
    >>> obj.layers
    ('features.3',)
    """

    def __init__(
        self,
        fn: Callable[[Activations], Tensor],
        *,
        layers: Iterable[str],
        name: str,
        batch_size: int = 1,
    ) -> None:
        self._fn = fn
        self.layers = tuple(dict.fromkeys(layers))
        self.name = name
        self.batch_size = batch_size

    def __call__(self, activations: Activations) -> Tensor:
        return self._fn(activations)

    def __repr__(self) -> str:
        return f"Objective({self.name})"

    def __add__(self, other: Objective | Real) -> Objective:
        if isinstance(other, Real):
            if other == 0:  # keeps sum([...]) of objectives free of a "+ 0" term
                return self
            return Objective(
                lambda acts: self(acts) + float(other),
                layers=self.layers,
                name=f"{self.name} + {other}",
                batch_size=self.batch_size,
            )
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(
            lambda acts: self(acts) + other(acts),
            layers=self.layers + other.layers,
            name=f"{self.name} + {other.name}",
            batch_size=max(self.batch_size, other.batch_size),
        )

    __radd__ = __add__

    def __mul__(self, factor: Real) -> Objective:
        if not isinstance(factor, Real):
            return NotImplemented
        return Objective(
            lambda acts: self(acts) * float(factor),
            layers=self.layers,
            name=f"{factor} * ({self.name})",
            batch_size=self.batch_size,
        )

    __rmul__ = __mul__

    def __truediv__(self, divisor: Real) -> Objective:
        if not isinstance(divisor, Real):
            return NotImplemented
        return self * (1.0 / float(divisor))

    def __neg__(self) -> Objective:
        return self * -1

    def __sub__(self, other: Objective | Real) -> Objective:
        if not isinstance(other, Objective | Real):
            return NotImplemented
        return self + (-other)

    def __rsub__(self, other: Real) -> Objective:
        return -self + other


def _get(acts: Activations, layer: str) -> Tensor:
    if layer not in acts:
        raise ValueError(f"no activation recorded for layer {layer!r}")
    return acts[layer]


def _images(t: Tensor, batch: int | None) -> Tensor:
    if batch is None:
        return t
    if not 0 <= batch < t.shape[0]:
        raise ValueError(f"batch index {batch} out of range for a batch of {t.shape[0]}")
    return t[batch : batch + 1]


def _channel_axis(acts: Activations, layer: str, t: Tensor, axis: int | None) -> int:
    """The (non-negative) channel axis of ``t``: ``axis``, else the one the layer's layout says."""
    if axis is None:
        axis = channel_axis(hint_for(getattr(acts, "layouts", {}), layer))
    if t.dim() < 2 or not -t.dim() <= axis < t.dim() or axis % t.dim() == 0:
        raise ValueError(
            f"channel axis {axis} is not a non-batch axis of {layer!r} with shape {tuple(t.shape)}"
        )
    return axis % t.dim()


def _check_channel(t: Tensor, layer: str, n: int, axis: int) -> None:
    if not 0 <= n < t.shape[axis]:
        raise ValueError(
            f"channel {n} out of range for layer {layer!r} with {t.shape[axis]} channels"
        )


def _one_layer(
    fn: Callable[[Activations], Tensor], layer: str, call: str, batch: int | None
) -> Objective:
    """An objective that reads ``layer`` and scores image ``batch`` of the batch (None: all images).

    ``call`` is the factory call that made it, without the closing parenthesis (``"channel('l', 3"``);
    the name adds the batch index to it.
    """
    if batch is not None and batch < 0:
        raise ValueError(f"batch index must be >= 0, got {batch}")
    suffix = "" if batch is None else f", batch={batch}"
    batch_size = 1 if batch is None else batch + 1
    return Objective(fn, layers=[layer], name=f"{call}{suffix})", batch_size=batch_size)


def _channel(layer: str, n: int, batch: int | None, axis: int | None, call: str) -> Objective:
    def fn(acts: Activations) -> Tensor:
        t = _get(acts, layer)
        ax = _channel_axis(acts, layer, t, axis)
        _check_channel(t, layer, n, ax)
        return _images(t, batch).select(ax, n).mean()

    return _one_layer(fn, layer, call, batch)


def channel(layer: str, n: int, *, batch: int | None = None, axis: int | None = None) -> Objective:
    """Mean activation of channel ``n`` of ``layer`` (over positions and the selected images).

    ``axis`` is the channel axis of the batched output; None takes it from the layer's layout
    (``maximize`` supplies it): dim 1 for conv maps ``[B, C, H, W]`` and logits ``[B, K]``, the last
    dim for channels-last ``[B, H, W, C]``, tokens ``[B, T, D]`` and windows ``[B, W, P, C]``.

    Examples
    --------
    >>> obj = channel("features.3", 5, batch=0)
    >>> obj.batch_size
    1
    """
    return _channel(layer, n, batch, axis, f"channel({layer!r}, {n}")


def _token_grid(count: int) -> tuple[int, int] | None:
    """(side, offset) for ``count`` tokens on a square grid, after ``offset`` class tokens."""
    for offset in (0, 1):
        side = math.isqrt(max(count - offset, 0))
        if side > 1 and side * side == count - offset:
            return side, offset
    return None


def _grid_position(m: Tensor, layer: str, x: int | None, y: int | None) -> tuple[int, ...]:
    """Index (after batch and channel) of position (``x``, ``y``) in a ``[B, C, H, W]`` map or in
    ``[B, C, T]`` tokens on a square grid."""
    grid = _token_grid(m.shape[-1]) if m.dim() == 3 else None
    if m.dim() != 4 and grid is None:
        raise ValueError(
            f"neuron needs a spatial map or a square grid of tokens; {layer!r} has "
            f"{tuple(m.shape)} with channels moved to dim 1"
        )
    h, w = m.shape[-2:] if grid is None else (grid[0], grid[0])
    row, col = h // 2 if y is None else y, w // 2 if x is None else x
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"position ({col}, {row}) outside the {w}x{h} map of {layer!r}")
    return (row, col) if grid is None else (grid[1] + row * w + col,)


def neuron(
    layer: str,
    n: int,
    x: int | None = None,
    y: int | None = None,
    *,
    batch: int | None = None,
    axis: int | None = None,
) -> Objective:
    """Activation of channel ``n`` at one position (``x``, ``y``; default the centre) of a map.

    Works on conv maps ``[B, C, H, W]``, channels-last maps ``[B, H, W, C]`` and square token grids
    ``[B, T, D]`` (a leading class token skipped); ``axis`` as in :func:`channel`.

    Examples
    --------
    >>> neuron("features.3", 5).layers
    ('features.3',)
    """

    def fn(acts: Activations) -> Tensor:
        t = _get(acts, layer)
        ax = _channel_axis(acts, layer, t, axis)
        _check_channel(t, layer, n, ax)
        hint = hint_for(getattr(acts, "layouts", {}), layer) if axis is None else None
        if hint in ("windows", "grid_windows"):
            raise ValueError(f"neuron needs a spatial map; {layer!r} holds window partitions")
        m = _images(t, batch).movedim(ax, 1)
        return m[(slice(None), n, *_grid_position(m, layer, x, y))].mean()

    return _one_layer(fn, layer, f"neuron({layer!r}, {n}", batch)


def layer(layer: str, kind: str = "mean", *, batch: int | None = None) -> Objective:
    """The whole layer: its mean activation (``kind="mean"``) or each image's L2 norm (``"l2"``).

    Examples
    --------
    >>> layer("features.3", "l2").name
    "layer('features.3', 'l2')"
    """
    if kind not in ("mean", "l2"):
        raise ValueError(f"kind must be 'mean' or 'l2', got {kind!r}")

    def fn(acts: Activations) -> Tensor:
        t = _images(_get(acts, layer), batch)
        return t.mean() if kind == "mean" else t.flatten(1).norm(dim=1).mean()

    return _one_layer(fn, layer, f"layer({layer!r}, {kind!r}", batch)


def class_logit(index: int, *, batch: int | None = None) -> Objective:
    """The logit of class ``index`` in the model's final output (the full forward runs).

    Examples
    --------
    >>> class_logit(130).layers == (OUTPUT,)
    True
    """
    return _channel(OUTPUT, index, batch, 1, f"class_logit({index}")


def direction(
    layer: str,
    vector: Tensor | Iterable[float],
    *,
    batch: int | None = None,
    axis: int | None = None,
) -> Objective:
    """Mean over positions of the activation's dot product with the unit ``vector`` in channel space.

    ``axis`` is the channel axis, as in :func:`channel`.

    Examples
    --------
    >>> direction("features.3", [1.0, 0.0, -1.0]).layers
    ('features.3',)
    """
    vec = torch.as_tensor(vector, dtype=torch.float32).flatten()
    norm = vec.norm()
    if vec.numel() == 0 or not torch.isfinite(norm) or norm == 0:
        raise ValueError("direction vector must be non-empty, finite and non-zero")
    unit = vec / norm

    def fn(acts: Activations) -> Tensor:
        t = _images(_get(acts, layer), batch)
        ax = _channel_axis(acts, layer, t, axis)
        if t.shape[ax] != unit.numel():
            raise ValueError(
                f"direction has {unit.numel()} entries but {layer!r} has shape {tuple(t.shape)}"
            )
        return (t.movedim(ax, -1) @ unit.to(device=t.device, dtype=t.dtype)).mean()

    return _one_layer(fn, layer, f"direction({layer!r}", batch)


def diversity(layer: str, *, axis: int | None = None) -> Objective:
    """Mean cosine similarity between the images' Gram matrices at ``layer``: subtract it to diversify.

    Lucid's diversity term: ``channel(layer, n) - w * diversity(layer)`` pushes the images of a batch
    towards different styles. A batch of one scores 0. ``axis`` is the channel axis, as in
    :func:`channel`.

    Examples
    --------
    >>> obj = channel("features.3", 5) - 0.1 * diversity("features.3")
    >>> obj.layers
    ('features.3',)
    """

    def fn(acts: Activations) -> Tensor:
        raw = _get(acts, layer)
        t = raw.movedim(_channel_axis(acts, layer, raw, axis), 1)
        b, c = t.shape[:2]
        if b < 2:
            return t.sum() * 0.0
        flat = t.reshape(b, c, -1)
        grams = F.normalize((flat @ flat.transpose(1, 2)).reshape(b, -1), dim=1)
        similarity = grams @ grams.T
        return (similarity.sum() - similarity.diagonal().sum()) / (b * (b - 1))

    return Objective(fn, layers=[layer], name=f"diversity({layer!r})", batch_size=1)
