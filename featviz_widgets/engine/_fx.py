"""FX graph-node capture through torchvision's feature extraction (private to the engine)."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, fx, nn
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.pooling import _AvgPoolNd, _MaxPoolNd
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from .owner import owner_for

# model -> (structure fingerprint, eval-mode node names); tracing a ResNet-50 costs ~0.1 s.
_NODE_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, list[str]]] = (
    weakref.WeakKeyDictionary()
)


class TraceError(ValueError):
    """The model cannot be traced with torch.fx; the message says to use module names."""


def _fingerprint(model: nn.Module) -> tuple:
    return tuple((name, id(module)) for name, module in model.named_modules())


def _trace_error(model: nn.Module, err: Exception) -> TraceError:
    return TraceError(
        f"{type(model).__name__} cannot be traced with torch.fx, so graph node names are "
        f"unavailable ({type(err).__name__}: {err}). Capture module names instead: "
        "list_layers(model) lists them, and capture() records them with forward hooks."
    )


def node_names(model: nn.Module) -> list[str]:
    """Eval-mode FX node names (cached per model until its module tree changes)."""
    key = _fingerprint(model)
    cached = _NODE_CACHE.get(model)
    if cached is not None and cached[0] == key:
        return list(cached[1])
    # get_graph_node_names flips model.train()/eval() for its two traces: hold the model (no
    # other thread may run it half-flipped) and keep the user's flags.
    with owner_for(model).using():
        try:
            _, eval_nodes = get_graph_node_names(model)
        except Exception as err:  # tracing failures come as many exception types
            raise _trace_error(model, err) from err
    _NODE_CACHE[model] = (key, list(eval_nodes))
    return list(eval_nodes)


class _NodeRecorder(fx.Interpreter):
    """Runs the pruned graph node by node, keeping each wanted node's value as it is produced.

    Reading the values from the extractor's returned dict would be wrong: a later in-place op
    (ResNet's ReLU(inplace=True) after ``bn1``) overwrites them before the graph returns.
    """

    def __init__(
        self,
        module: fx.GraphModule,
        wanted: dict[fx.Node, list[str]],
        store: Callable[[str, Any], None],
    ) -> None:
        super().__init__(module)
        self._wanted = wanted
        self._store = store
        self.current: fx.Node | None = None  # for error messages
        self.last_module: str | None = None

    def run_node(self, n: fx.Node) -> Any:
        self.current = n
        result = super().run_node(n)
        if n.op == "call_module":
            self.last_module = str(n.target)
        for name in self._wanted.get(n, ()):
            self._store(name, result)
        return result


def capture_nodes(
    model: nn.Module,
    x: Tensor,
    names: Sequence[str],
    store: Callable[[str, Any], None],
) -> None:
    """Run ``model`` on ``x`` through a feature extractor, calling ``store(name, value)``.

    The caller owns eval mode, grad mode, state restoration and error wrapping.
    """
    try:
        extractor = create_feature_extractor(
            model, return_nodes=list(names), suppress_diff_warning=True
        )
    except Exception as err:  # tracing failures come as many exception types
        raise _trace_error(model, err) from err
    extractor.eval()
    output = next(node for node in extractor.graph.nodes if node.op == "output")
    wanted: dict[fx.Node, list[str]] = {}
    for name, node in output.args[0].items():
        wanted.setdefault(node, []).append(name)
    _NodeRecorder(extractor, wanted, store).run(x)


def running_node(owner: object) -> str | None:
    """'graph node NAME (target)' when ``owner`` is the recorder that was running a node."""
    if not isinstance(owner, _NodeRecorder) or owner.current is None:
        return None
    node = owner.current
    target = getattr(node.target, "__name__", node.target)
    after = f", after layer {owner.last_module!r}" if owner.last_module else ""
    return f"graph node {node.name!r} ({node.op} {target}{after})"


def node_position(names: list[str]) -> Callable[[str, int], int]:
    """A sort key ``(name, call)`` -> the graph position of a module's or node's output.

    A module stands at the last node inside it; its second call at the node FX names
    ``<name>_1``; anything the graph does not know goes last.
    """
    index: dict[str, int] = {}
    for i, node in enumerate(names):
        parts = node.split(".")
        for depth in range(1, len(parts) + 1):
            index[".".join(parts[:depth])] = i

    def position(name: str, call: int) -> int:
        if call > 1 and f"{name}_{call - 1}" in index:
            return index[f"{name}_{call - 1}"]
        return index.get(name, len(names))

    return position


def module_graph(model: nn.Module) -> tuple[fx.Graph, dict[str, nn.Module]]:
    """The model's torch.fx graph (leaf modules as ``call_module`` nodes) and its modules by name.

    For graph arithmetic (receptive fields); raises TraceError when torch.fx cannot trace it.
    """
    try:
        graph = _WindowTracer().trace(model)
    except Exception as error:  # any tracing failure, whatever its type
        raise _trace_error(model, error) from error
    return graph, dict(model.named_modules())


class _WindowTracer(fx.Tracer):
    """torch.fx's tracer, with every convolution and pooling a leaf, also when it is a subclass
    defined outside ``torch.nn`` (torchvision's video ``Conv3DSimple``): traced through, it would
    be a bare ``conv3d`` call whose kernel the receptive-field walk cannot read."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        windows = (_ConvNd, _MaxPoolNd, _AvgPoolNd)
        return isinstance(module, windows) or super().is_leaf_module(module, qualified_name)


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """An eval-mode copy with every ``conv -> batch norm`` pair folded into one convolution.

    The model must be in eval mode (the caller holds its owner); raises TraceError when torch.fx
    cannot trace it.
    """
    from torch.fx.experimental.optimization import fuse

    try:
        return fuse(model, inplace=False)
    except Exception as error:
        raise _trace_error(model, error) from error
