"""Objectives: scalars to maximize, computed from the activations of named layers.

Objectives compose with arithmetic, e.g. ``channel("features.3", 5) - 0.1 * diversity("features.3")``.
Layer names are ``named_modules`` names; ``OUTPUT`` (the empty string, the root module's name) is the
model's final output. Factories that take ``batch`` score one image of the batch, so a list of channels
is optimized as one batch with ``sum(channel(layer, c, batch=i) for i, c in enumerate(channels))``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from numbers import Real

import torch
import torch.nn.functional as F
from torch import Tensor

OUTPUT = ""
"""Layer name of the model's final output (the full forward runs; nothing stops early)."""

Activations = Mapping[str, Tensor]


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


def _check_channel(t: Tensor, layer: str, n: int) -> None:
    if t.dim() < 2 or not 0 <= n < t.shape[1]:
        size = t.shape[1] if t.dim() >= 2 else 0
        raise ValueError(f"channel {n} out of range for layer {layer!r} with {size} channels")


def _batch_size(batch: int | None) -> int:
    if batch is not None and batch < 0:
        raise ValueError(f"batch index must be >= 0, got {batch}")
    return 1 if batch is None else batch + 1


def _suffix(batch: int | None) -> str:
    return "" if batch is None else f", batch={batch}"


def _channel(layer: str, n: int, batch: int | None, name: str) -> Objective:
    def fn(acts: Activations) -> Tensor:
        t = _get(acts, layer)
        _check_channel(t, layer, n)
        return _images(t, batch)[:, n].mean()

    return Objective(
        fn, layers=[layer], name=f"{name}{_suffix(batch)})", batch_size=_batch_size(batch)
    )


def channel(layer: str, n: int, *, batch: int | None = None) -> Objective:
    """Mean activation of channel ``n`` of ``layer`` (over positions and the selected images).

    Works on any output with channels in dim 1: conv maps ``[B, C, H, W]`` and logits ``[B, K]``.

    Examples
    --------
    >>> obj = channel("features.3", 5, batch=0)
    >>> obj.batch_size
    1
    """
    return _channel(layer, n, batch, f"channel({layer!r}, {n}")


def neuron(
    layer: str, n: int, x: int | None = None, y: int | None = None, *, batch: int | None = None
) -> Objective:
    """Activation of channel ``n`` at one position (``x``, ``y``; default the centre) of a conv map.

    Examples
    --------
    >>> neuron("features.3", 5).layers
    ('features.3',)
    """

    def fn(acts: Activations) -> Tensor:
        t = _get(acts, layer)
        _check_channel(t, layer, n)
        if t.dim() != 4:
            raise ValueError(f"neuron needs a [B, C, H, W] output; {layer!r} has {tuple(t.shape)}")
        h, w = t.shape[-2:]
        row, col = h // 2 if y is None else y, w // 2 if x is None else x
        if not (0 <= row < h and 0 <= col < w):
            raise ValueError(f"position ({col}, {row}) outside the {w}x{h} map of {layer!r}")
        return _images(t, batch)[:, n, row, col].mean()

    return Objective(
        fn,
        layers=[layer],
        name=f"neuron({layer!r}, {n}{_suffix(batch)})",
        batch_size=_batch_size(batch),
    )


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

    return Objective(
        fn,
        layers=[layer],
        name=f"layer({layer!r}, {kind!r}{_suffix(batch)})",
        batch_size=_batch_size(batch),
    )


def class_logit(index: int, *, batch: int | None = None) -> Objective:
    """The logit of class ``index`` in the model's final output (the full forward runs).

    Examples
    --------
    >>> class_logit(130).layers == (OUTPUT,)
    True
    """
    return _channel(OUTPUT, index, batch, f"class_logit({index}")


def direction(
    layer: str, vector: Tensor | Iterable[float], *, batch: int | None = None
) -> Objective:
    """Mean over positions of the activation's dot product with the unit ``vector`` in channel space.

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
        if t.dim() < 2 or t.shape[1] != unit.numel():
            raise ValueError(
                f"direction has {unit.numel()} entries but {layer!r} has shape {tuple(t.shape)}"
            )
        weights = unit.to(device=t.device, dtype=t.dtype).reshape(1, -1, *([1] * (t.dim() - 2)))
        return (t * weights).sum(dim=1).mean()

    return Objective(
        fn,
        layers=[layer],
        name=f"direction({layer!r}{_suffix(batch)})",
        batch_size=_batch_size(batch),
    )


def diversity(layer: str) -> Objective:
    """Mean cosine similarity between the images' Gram matrices at ``layer``: subtract it to diversify.

    Lucid's diversity term: ``channel(layer, n) - w * diversity(layer)`` pushes the images of a batch
    towards different styles. A batch of one scores 0.

    Examples
    --------
    >>> obj = channel("features.3", 5) - 0.1 * diversity("features.3")
    >>> obj.layers
    ('features.3',)
    """

    def fn(acts: Activations) -> Tensor:
        t = _get(acts, layer)
        b, c = t.shape[:2]
        if b < 2:
            return t.sum() * 0.0
        flat = t.reshape(b, c, -1)
        grams = F.normalize((flat @ flat.transpose(1, 2)).reshape(b, -1), dim=1)
        similarity = grams @ grams.T
        return (similarity.sum() - similarity.diagonal().sum()) / (b * (b - 1))

    return Objective(fn, layers=[layer], name=f"diversity({layer!r})", batch_size=1)
