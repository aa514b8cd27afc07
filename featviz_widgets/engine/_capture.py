"""Capture: list a model's layers and record what they output (public through ``engine``).

Layer outputs are recorded through the model's adapter (``owner_for(model).adapter``: torch
forward hooks from ``_recorder``, Keras wrapped ``call``s or a multi-output model), graph nodes
through torch.fx (``_fx``); every call holds the model's owner (``owner_for(model).using()``), so
it never interleaves with another thread's use of the model, and the model comes back as it was.
``Capture``, the context-manager form for a forward the caller runs, lives in ``_context``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from . import _fx
from ._names import node_names, resolve
from ._recorder import (
    Recorder,
    ShapeRecorder,
    StopForward,
    flatten,
    memory_for,
    parse_key,
)
from ._state import check_model, input_channels, model_device, model_dtype, preserved_state
from ._types import LayerInfo
from .owner import owner_for

__all__ = [
    "LayerInfo",
    "Survey",
    "capture",
    "input_channels",
    "list_layers",
    "list_nodes",
    "model_device",
    "model_dtype",
    "preserved_state",
    "survey",
    "survey_nodes",
]


def list_layers(model: nn.Module, example: Tensor | None = None) -> list[LayerInfo]:
    """Every named submodule (the root excluded): the names :func:`capture` accepts.

    Without ``example`` the list is in registration order. With one, the model runs once
    (eval mode, no grad, state restored) and the list is in execution order, with output
    shapes and call counts; modules that never ran come last with ``shapes=None``.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    >>> [(i.name, i.shapes) for i in list_layers(net, torch.zeros(1, 3, 8, 8))]
    [('0', ((1, 4, 6, 6),)), ('1', ((1, 4, 6, 6),))]
    """
    model = check_model(model)
    infos = {info.name: info for info in owner_for(model).adapter.layers(model)}
    if example is None:
        return list(infos.values())
    found = survey(model, example, what="the layer list")
    shapes: dict[str, list[tuple[int, ...]]] = {}
    for key, shape in found.shapes.items():  # the first call's parts, in run order
        name = parse_key(key)
        if name.call == 1:
            shapes.setdefault(name.name, []).append(shape)
    ran = [
        replace(infos[name], shapes=tuple(shape), calls=found.calls[name])
        for name, shape in shapes.items()
    ]
    return ran + [info for name, info in infos.items() if name not in shapes]


@dataclass(frozen=True)
class Survey:
    """One forward's shapes: every module output's shape by capture key, in execution order.

    ``calls`` counts each module's calls; ``output`` is the model's own (final) output.
    """

    shapes: dict[str, tuple[int, ...]]
    calls: dict[str, int]
    output: Any


def survey(model: nn.Module, x: Tensor, *, what: str = "the layer shapes") -> Survey:
    """Run ``model`` once (eval, no grad, state restored) keeping shapes, not tensors.

    The cheap pass that lists every layer with its output shape without holding activations;
    ``output`` is kept (usually class scores). Modules that return no tensor appear in ``calls``.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    >>> survey(net, torch.zeros(1, 3, 8, 8)).shapes
    {'0': (1, 4, 6, 6), '1': (1, 4, 6, 6)}
    """
    model = check_model(model)
    _check_input(x)
    recorder = ShapeRecorder()
    owner = owner_for(model)
    adapter = owner.adapter
    names = ["", *adapter.names(model)]
    with owner.using(), torch.no_grad():
        adapter.to_eval(model)
        # prepended, so a model's own hook that edits an output in place cannot change our view
        with adapter.watch(model, names, recorder.record, prepend=True):
            _run(model, lambda: adapter.forward(model, x), what, x)
    if x.dim() in (4, 5):  # a whole forward ran at this image (clip) size: no probe needed for it
        owner.ran_at(tuple(x.shape[-3:]) if x.dim() == 5 else tuple(x.shape[-2:]))
    return Survey(recorder.shapes, recorder.calls, recorder.output)


def survey_nodes(model: nn.Module, x: Tensor) -> dict[str, tuple[int, ...]]:
    """Run ``model`` once through its FX graph keeping every node's output shape, not tensors.

    The graph-node counterpart of :func:`survey`: keys are :func:`list_nodes` names (parts of
    tuple/dict outputs as ``name[0]``), in graph order, the input placeholder first. Raises
    ValueError, naming the trace failure, when torch.fx cannot trace the model.

    Examples
    --------
    >>> survey_nodes(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), torch.zeros(1, 2))
    {'input': (1, 2), '0': (1, 3), '1': (1, 3)}
    """
    model = check_model(model)
    _check_input(x)
    names = node_names(model)
    shapes: dict[str, tuple[int, ...]] = {}

    def store(name: str, value: Any) -> None:
        for key, tensor in flatten(name, value):
            shapes[key] = tuple(int(s) for s in tensor.shape)

    what = f"the graph node shapes of {type(model).__name__}"
    with owner_for(model).using(), torch.no_grad():
        owner_for(model).adapter.to_eval(model)
        _run(model, lambda: _fx.capture_nodes(model, _model_input(model, x), names, store), what, x)
    return shapes


def list_nodes(model: nn.Module) -> list[str]:
    """FX graph node names of the eval-mode graph (torchvision ``get_graph_node_names``).

    Raises ValueError, naming the trace failure, when torch.fx cannot trace the model; module
    names from :func:`list_layers` still work then.

    Examples
    --------
    >>> list_nodes(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    ['input', '0', '1']
    """
    model = check_model(model)
    return node_names(model)


def capture(
    model: nn.Module,
    x: Tensor,
    layers: str | Sequence[str] | None = None,
    *,
    stop_early: bool = True,
    keep_graph: bool = False,
    to_cpu: bool = True,
) -> dict[str, Tensor]:
    """Run ``model`` on ``x`` and return ``{name: output}`` for ``layers``, in execution order.

    Parameters
    ----------
    model : the network; it runs in eval mode and every piece of its state is restored.
    x : the input batch; cast to the model's device (and floating dtype), never modified.
    layers : module names (``list_layers``) and/or FX node names (``list_nodes``); None
        means every module. Keys: ``"name"``; parts of tuple/list outputs ``"name[0]"``;
        dict/namedtuple parts ``"name['out']"``; a module's later calls ``"name#2"``.
    stop_early : stop the forward once every requested module has run (its first call);
        ignored when ``layers`` is None. Pass False to keep later calls (``"name#2"``).
    keep_graph : keep the autograd graph (grad enabled, tensors not detached).
    to_cpu : return CPU tensors (False: leave them on the model's device).

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Flatten())
    >>> acts = capture(net, torch.randn(2, 3, 8, 8), ["0", "1"])
    >>> acts["0"].shape, bool((acts["0"] < 0).any())  # the in-place ReLU did not clobber it
    (torch.Size([2, 4, 6, 6]), True)
    """
    model = check_model(model)
    _check_input(x)
    modules, nodes = resolve(model, layers)
    what = _describe(model, [*modules, *nodes] if layers is not None else None)
    acts: dict[str, Tensor] = {}
    adapter = owner_for(model).adapter
    with owner_for(model).using(), torch.set_grad_enabled(keep_graph):
        adapter.to_eval(model)
        direct = None
        if modules and stop_early and layers is not None:
            direct = _run(model, lambda: adapter.capture_direct(model, x, modules), what, x)
        if direct is not None:
            acts.update(_kept(direct, keep_graph))
        elif modules:
            stop = stop_early and layers is not None
            every = layers is None  # "every module": those that never run are simply absent
            acts.update(_capture_modules(model, x, modules, stop, keep_graph, what, every))
        if nodes:
            acts.update(_capture_nodes(model, x, nodes, keep_graph, what))
    if modules and nodes:  # two passes: put the keys back into graph order
        position = _fx.node_position(_fx.node_names(model))
        order = {key: parse_key(key) for key in acts}
        acts = dict(
            sorted(acts.items(), key=lambda kv: position(order[kv[0]].name, order[kv[0]].call))
        )
    if to_cpu:
        return {key: t if t.device.type == "cpu" else t.cpu() for key, t in acts.items()}
    return acts


# -- running ---------------------------------------------------------------------------------


def _capture_modules(
    model: nn.Module,
    x: Tensor,
    names: list[str],
    stop: bool,
    keep_graph: bool,
    what: str,
    every: bool = False,
) -> dict[str, Tensor]:
    """Hook ``names``; keep outputs by reference where earlier runs showed that is safe."""
    memory = memory_for(model)
    recorder = Recorder(names, stop_early=stop, keep_graph=keep_graph, memory=memory)
    stopped = _hooked_forward(model, x, recorder, what)
    overwritten, kept_one = recorder.overwritten()
    memory.learn(recorder.ran(), overwritten, complete=not stopped)
    if kept_one:  # a kept reference was overwritten in place: re-run copying everything
        recorder = Recorder(names, stop_early=stop, keep_graph=keep_graph, memory=None)
        stopped = _hooked_forward(model, x, recorder, what)
    if not stopped and not every:
        missing = [name for name in names if not recorder.calls[name]]
        if missing:
            raise ValueError(
                f"layer {missing[0]!r} never ran in the forward of {type(model).__name__} "
                "(e.g. an auxiliary head that only runs in training mode, or a branch this input "
                "does not take); list_layers(model, x) shows which layers run"
            )
    return recorder.activations


def _hooked_forward(model: nn.Module, x: Tensor, recorder: Recorder, what: str) -> bool:
    """One forward with ``recorder``'s hooks on; True when it stopped early."""
    adapter = owner_for(model).adapter
    with adapter.watch(model, list(recorder.calls), recorder.record):
        return _run(model, lambda: adapter.forward(model, x), what, x) is _STOPPED


def _kept(outputs: dict[str, Any], keep_graph: bool) -> dict[str, Tensor]:
    """Outputs named by the grammar (``name[0]`` for parts), detached unless the graph is kept."""
    return {
        key: tensor if keep_graph else tensor.detach()
        for name, value in outputs.items()
        for key, tensor in flatten(name, value)
    }


def _capture_nodes(
    model: nn.Module, x: Tensor, names: list[str], keep_graph: bool, what: str
) -> dict[str, Tensor]:
    acts: dict[str, Tensor] = {}

    def store(name: str, value: Any) -> None:
        for key, tensor in flatten(name, value):
            # Always copied: the rest of the graph may still overwrite it in place.
            acts[key] = (tensor if keep_graph else tensor.detach()).clone()

    _run(model, lambda: _fx.capture_nodes(model, _model_input(model, x), names, store), what, x)
    return acts


_STOPPED = object()  # what _run returns when a recorder stopped the forward


def _run(model: nn.Module, forward: Callable[[], Any], what: str, x: Tensor) -> Any:
    """Call ``forward`` and return its result, or ``_STOPPED`` if a recorder stopped it.

    Model errors come back with context."""
    try:
        return forward()
    except StopForward:
        return _STOPPED
    except _fx.TraceError:
        raise
    except Exception as err:  # the model's own error, whatever its type
        shape = tuple(x.shape)
        raise RuntimeError(
            f"forward failed while capturing {what}{_where(model, err)} on an input of shape "
            f"{shape} ({x.dtype}): {type(err).__name__}: {err}"
        ) from err


def _where(model: nn.Module, err: BaseException) -> str:
    """' in layer NAME (Type)' for the innermost module of ``model`` in the traceback.

    Code that torch.fx traced through has no module frame: name the graph node instead.
    """
    names = {id(module): name for name, module in model.named_modules()}
    found, node = None, None
    tb = err.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if owner is not None and names.get(id(owner)):
            found = owner
        node = _fx.running_node(owner) or node
        tb = tb.tb_next
    if found is not None:
        return f" in layer {names[id(found)]!r} ({type(found).__name__})"
    return f" at {node}" if node else ""


def _model_input(model: nn.Module, x: Tensor) -> Tensor:
    """A private copy of ``x`` on the model's device and dtype: the caller's is never touched."""
    return owner_for(model).adapter.model_input(model, x)


# -- names -----------------------------------------------------------------------------------


def _check_input(x: object) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(
            f"x must be a torch.Tensor batch, got {type(x).__name__}; turn an image into one "
            "with featviz_widgets.prepare_image(img, model).batch"
        )


def _describe(model: nn.Module, names: list[str] | None) -> str:
    if names is None:
        return f"every layer of {type(model).__name__}"
    shown = ", ".join(map(repr, names[:3])) + (
        f" and {len(names) - 3} more" if len(names) > 3 else ""
    )
    return f"{shown} of {type(model).__name__}"
