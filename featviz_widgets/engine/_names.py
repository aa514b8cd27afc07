"""Layer names: the one check of the names a caller asks for, and the one unknown-layer error.

``capture``, ``Capture``, ``Recording`` (activation maximization, dataset examples) and the
explorer's ``layers=`` all check names here, so a typo reads the same wherever it is made: the
name, the model, the closest names it has, and the function that lists them.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .._text import close_names
from ..messages import Message, MessageValueError
from . import _fx
from ._recorder import parse_key
from ._state import check_model
from ._wrappers import strip_wrapper_prefix
from .owner import owner_for

__all__ = ["check_layers", "unknown_layer_error"]


def unknown_layer_error(
    model: nn.Module,
    name: str,
    modules: Sequence[str],
    nodes: Sequence[str] | None = None,
    note: str = "",
) -> ValueError:
    """The ValueError for a layer name ``model`` does not have, with close matches and the fix.

    Parameters
    ----------
    model : the model the name was asked of (named in the message).
    name : the name that is not there.
    modules : the layer names it has (``list_layers``).
    nodes : its graph node names (``list_nodes``); None for a model without graph nodes (the
        message then names ``list_layers`` only).
    note : appended to the message, e.g. why graph node names are unavailable.

    Examples
    --------
    >>> str(unknown_layer_error(nn.Sequential(nn.ReLU()), "o", ["0"], None))
    "unknown layer 'o' for Sequential. list_layers(model) lists its layer names"
    """
    # A module is usually a graph node of the same name too: close_names names each once.
    close = tuple(close_names(name, [*modules, *(nodes or ())]))
    code = "unknown_layer" if nodes is None else "unknown_layer_or_node"
    return MessageValueError(code, name=name, model=type(model).__name__, close=close, note=note)


def node_names(model: nn.Module) -> list[str]:
    """FX graph node names; a TraceError (a ValueError) for a framework torch.fx cannot trace."""
    adapter = owner_for(model).adapter
    if not adapter.traceable:
        raise _fx.TraceError(
            f"{type(model).__name__} is a {adapter.framework} model: it has no torch.fx graph "
            "nodes; its layer names (list_layers) are what capture accepts"
        )
    return _fx.node_names(model)


def as_names(layers: str | Sequence[str] | None) -> list[str] | None:
    """``layers`` as a list without repeats (None stays None); TypeError/ValueError otherwise."""
    if layers is None:
        return None
    if isinstance(layers, str):
        layers = [layers]
    if not isinstance(layers, Sequence) or not all(isinstance(n, str) for n in layers):
        raise TypeError("layers must be a layer name, a sequence of names, or None for all")
    if not layers:
        raise ValueError("layers is empty: pass None for every module, or at least one name")
    return list(dict.fromkeys(layers))  # drop repeats, keep order


def resolve(model: nn.Module, layers: str | Sequence[str] | None) -> tuple[list[str], list[str]]:
    """Split ``layers`` into module names and FX node names; ValueError for unknown ones.

    A name with a wrapper's prefix (``"module.layer1"``) is read as the layer it names."""
    model = check_model(model)
    names = as_names(layers)
    modules = owner_for(model).adapter.names(model)
    if names is None:
        return modules, []
    known = set(modules)
    names = list(dict.fromkeys(strip_wrapper_prefix(name, known) for name in names))
    unknown = [name for name in names if name not in known]
    if unknown:
        graph, note = _graph_nodes(model)
        for name in unknown:
            if graph is None or name not in graph:
                inside = _scripted(name, model)  # a Message, worded in the reader's language
                raise unknown_layer_error(model, name, modules, graph, note or inside)
    return [n for n in names if n in known], unknown


def _scripted(name: str, model: nn.Module) -> Message | str:
    """Why ``name`` is not listed when it lies inside a TorchScript submodule, else ""."""
    scripted = owner_for(model).adapter.scripted_parent(model, name)
    if scripted is None:
        return ""
    return Message("inside_scripted", name=name, scripted=scripted)


def _graph_nodes(model: nn.Module) -> tuple[list[str] | None, str]:
    """Graph node names and a note on why they are missing: (None, "") without a graph at all."""
    try:
        return node_names(model), ""
    except _fx.TraceError as err:
        if not owner_for(model).adapter.traceable:  # no graph nodes to mention at all
            return None, ""
        return [], f" (graph node names are unavailable: {err})"


def check_layers(model: nn.Module, layers: str | Sequence[str]) -> list[str]:
    """The capture keys asked for, checked against the model's modules and graph nodes.

    A key is a module name (``list_layers``), a graph node (``list_nodes``), or either with a
    capture-key suffix for one part of a tuple output or a later call (``"attn[0]"``,
    ``"relu#2"``). Returns the keys without repeats, in the order given.

    Examples
    --------
    >>> check_layers(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), ["1", "0#2", "1"])
    ['1', '0#2']
    """
    if isinstance(layers, str):
        layers = [layers]
    if (
        not isinstance(layers, Sequence)
        or not layers
        or not all(isinstance(n, str) for n in layers)
    ):
        raise TypeError("layers must be a layer name or a non-empty list of names")
    model = check_model(model)
    known = set(owner_for(model).adapter.names(model))
    keys = []
    for key in layers:  # a wrapper's prefix dropped from the name, the key's suffix kept
        name = parse_key(key).name
        keys.append(strip_wrapper_prefix(name, known) + key[len(name) :])
    keys = list(dict.fromkeys(keys))
    resolve(model, list(dict.fromkeys(parse_key(key).name for key in keys)))
    return keys
