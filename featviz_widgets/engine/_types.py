"""Leaf types of the engine: imported by every other engine module, importing none of them.

``LayerInfo`` (what ``list_layers`` reports) and ``is_keras`` (how a Keras model is recognized
without importing keras) are needed both by the adapters and by the modules the adapters serve;
keeping them here lets the engine's import graph stay free of cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LayerInfo", "is_keras"]


@dataclass(frozen=True)
class LayerInfo:
    """One named submodule, as :func:`~featviz_widgets.engine.list_layers` reports it.

    Attributes
    ----------
    name : dotted ``named_modules`` name, the key every API accepts.
    type : class name, e.g. ``"Conv2d"``.
    num_params : parameters of this module including its children.
    shapes : output tensor shape(s) of its first call (batch dim included) when an example
        ran, else None (also None when it never ran).
    is_conv : whether it is a 1-D/2-D/3-D (transposed) convolution.
    calls : times it ran in the example forward (0 without an example).
    """

    name: str
    type: str
    num_params: int
    shapes: tuple[tuple[int, ...], ...] | None
    is_conv: bool
    calls: int


def is_keras(model: object) -> bool:
    """Whether ``model`` is a Keras layer or model (any backend), without importing keras.

    Examples
    --------
    >>> is_keras(object())
    False
    """
    return any((cls.__module__ or "").split(".")[0] == "keras" for cls in type(model).__mro__)
