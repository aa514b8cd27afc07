"""How much of the input image a layer's units see: its receptive field, by probe or by arithmetic.

Two ways, same answer on plain CNNs (``benchmarks/optvis.py`` compares them):

- ``"probe"`` (any model): one forward to the layer and one backward from the unit in the middle
  of its output; the receptive field is the box of input pixels with a non-zero gradient. Works
  for anything that runs, attention included (a ViT token sees the whole image). One stop-early
  forward and backward per layer.
- ``"graph"`` (traceable CNNs): torch.fx traces the model once and walks its graph with the
  textbook recurrence ``rf += (kernel - 1) * dilation * jump; jump *= stride`` for every
  convolution and pooling, the widest input for joins (residual adds, concatenations), and the whole
  image for anything that mixes all positions (global pooling, flatten, attention, unknown ops).
  No forward at all, every layer at once; it fails (ValueError) on models torch.fx cannot trace.

Both results are cached in the model's owner per (layer, input size, method).

Examples
--------
>>> import torchvision
>>> model = torchvision.models.mobilenet_v2()
>>> receptive_field(model, "features.0.0", 128).size
(3, 3)
"""

from __future__ import annotations

import contextlib
import operator
from dataclasses import dataclass

import torch
from torch import Tensor, fx, nn

from ..messages import MessageValueError
from ._fx import TraceError, module_graph
from ._recorder import StopForward
from ._state import check_model
from .owner import owner_for, to_eval

__all__ = ["ReceptiveField", "receptive_field"]

_WINDOWS = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.MaxPool2d, nn.AvgPool2d, nn.MaxPool3d, nn.AvgPool3d,
)  # fmt: skip
# Modules and functions that keep every position where it is (per-pixel maps, joins).
_LOCAL_MODULES = (
    nn.BatchNorm2d, nn.BatchNorm3d, nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish, nn.Hardsigmoid,
    nn.Sigmoid, nn.Identity, nn.Dropout, nn.LeakyReLU, nn.GroupNorm, nn.LayerNorm, nn.ELU,
)  # fmt: skip
_LOCAL_FUNCTIONS = {
    operator.add, operator.mul, operator.sub, operator.truediv, operator.iadd, operator.imul,
    torch.add, torch.mul, torch.cat, torch.relu, torch.sigmoid, torch.nn.functional.relu,
    torch.nn.functional.relu6, torch.nn.functional.hardswish, torch.nn.functional.silu,
    torch.nn.functional.gelu, torch.nn.functional.dropout,
}  # fmt: skip
_SHAPE_FUNCTIONS = {getattr, operator.getitem}  # `x.shape`, `size[0]`: no pixels flow


@dataclass(frozen=True)
class ReceptiveField:
    """The (height, width) in input pixels that one unit of ``layer`` sees, at ``input_size``.

    ``size`` is clipped to the input: a unit that sees everything has ``size == input_size``.
    """

    layer: str
    size: tuple[int, int]
    input_size: tuple[int, int]

    @property
    def fraction(self) -> float:
        """The smaller of height / input height and width / input width (1.0: the whole image)."""
        return min(s / i for s, i in zip(self.size, self.input_size, strict=True))

    def label(self) -> str:
        return f"{self.size[0]}x{self.size[1]}"


def receptive_field(
    model: nn.Module,
    layer: str,
    size: int | tuple[int, int],
    *,
    method: str = "probe",
    channel_axis: int = 1,
) -> ReceptiveField:
    """The receptive field of ``layer`` (a ``named_modules`` name) for ``size`` x ``size`` inputs.

    Parameters
    ----------
    method : {"probe", "graph"}
        See the module docstring: "probe" runs the model (any architecture), "graph" traces it.
    channel_axis : int
        The probe sums this axis of the layer's output and takes the unit in the middle of the
        others (1 for NCHW; -1 for channels-last maps and ViT tokens).

    Examples
    --------
    >>> receptive_field(torchvision.models.resnet18(), "layer1", 128, method="graph").size
    (43, 43)
    """
    if method not in ("probe", "graph"):
        raise ValueError(f"method must be 'probe' or 'graph', got {method!r}")
    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    model = check_model(model)  # the network inside a compile / DataParallel wrapper
    owner = owner_for(model)
    key = ("receptive_field", layer, hw, method, channel_axis)
    if key not in owner.memo:
        if method == "graph":
            boxes = owner.memo.get(("receptive_graph",))
            if boxes is None and not owner.adapter.traceable:
                boxes = ValueError(f"a {owner.adapter.framework} model has no torch.fx graph")
            if boxes is None:
                with owner.using():  # torch.fx patches Module.__call__ while it traces
                    to_eval(model)  # a traced BatchNorm in training mode bumps its real buffers
                    try:
                        boxes = _graph_fields(model)
                    except ValueError as error:  # untraceable: said once, not traced again
                        boxes = error
                owner.memo[("receptive_graph",)] = boxes
            if isinstance(boxes, ValueError):
                raise ValueError(str(boxes))
            if layer not in boxes:
                raise ValueError(f"{layer!r} is not a module in the traced graph of the model")
            found = tuple(min(b, i) for b, i in zip(boxes[layer], hw, strict=True))
        else:
            found = _probe(model, layer, hw, channel_axis)
        owner.memo[key] = ReceptiveField(layer, found, hw)
    return owner.memo[key]


# -- the probe -------------------------------------------------------------------------------------
def _probe(model: nn.Module, layer: str, hw: tuple[int, int], channel_axis: int) -> tuple[int, int]:
    owner = owner_for(model)
    adapter = owner.adapter
    if layer not in adapter.names(model):
        raise ValueError(f"{layer!r} is not a module of {type(model).__name__}")
    with owner.using(), torch.enable_grad():
        adapter.freeze(model)  # restored by the owner; only the input needs a gradient
        # A seeded random image (a clip of the fewest frames the model takes, for a video
        # model): a flat one would leave ReLUs all on or all off.
        frames = (owner.clip_frames(hw) or 1,) if owner.takes_clips else ()
        noise = torch.randn(
            (1, owner.input_channels or 3, *frames, *hw), generator=torch.Generator().manual_seed(0)
        )
        x = noise.to(owner.device, owner.dtype).requires_grad_(True)
        found: list[Tensor] = []

        def keep(name: str, output: object) -> None:
            if not found and isinstance(output, Tensor):
                found.append(output)
                raise StopForward

        with adapter.watch(model, [layer], keep), contextlib.suppress(StopForward):
            adapter.forward(model, x, copy=False)
        if not found:
            raise ValueError(f"layer {layer!r} gives no tensor to probe")
        unit = _middle_unit(found[0], channel_axis)
        if not unit.requires_grad:
            raise MessageValueError("input_independent", layer=layer)
        (grad,) = torch.autograd.grad(unit, x)
    seen = grad.abs().sum(dim=tuple(range(grad.dim() - 2))) > 0  # over batch, channels, frames
    rows, cols = seen.any(1).nonzero().flatten(), seen.any(0).nonzero().flatten()
    if len(rows) == 0:
        return (0, 0)
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def _middle_unit(output: Tensor, channel_axis: int) -> Tensor:
    """The sum over channels of the output unit in the middle of every other (position) axis."""
    summed = output.sum(dim=channel_axis) if output.dim() > 2 else output.sum(dim=-1)
    index = tuple(n // 2 for n in summed.shape[1:])
    return summed[(0, *index)]


# -- the graph -------------------------------------------------------------------------------------
_WHOLE = (10**9, 10**9)


def _graph_fields(model: nn.Module) -> dict[str, tuple[int, int]]:
    """Every module's receptive field (unclipped; 10**9 = the whole image) from one fx trace."""
    try:
        graph, modules = module_graph(model)
    except TraceError as error:
        raise ValueError(f"{error} Or use method='probe'.") from error
    state: dict[fx.Node, tuple[tuple[int, int], tuple[int, int]]] = {}
    fields: dict[str, tuple[int, int]] = {}
    for node in graph.nodes:
        inputs = [state[n] for n in node.all_input_nodes if n in state]
        if node.op == "placeholder":
            state[node] = ((1, 1), (1, 1))
            continue
        if node.op == "output" or not inputs:
            continue
        rf = tuple(max(i[0][a] for i in inputs) for a in (0, 1))
        jump = tuple(max(i[1][a] for i in inputs) for a in (0, 1))
        state[node] = _step(node, modules, rf, jump)
        for name in node.meta.get("nn_module_stack", {}):  # outermost to innermost module
            fields[name] = state[node][0]  # the last node inside a module is its output
    return fields


def _step(node: fx.Node, modules: dict[str, nn.Module], rf: tuple, jump: tuple) -> tuple:
    if node.op == "call_module":
        module = modules[node.target]
        if isinstance(module, _WINDOWS):
            kernel, stride = _pair(module.kernel_size), _pair(module.stride)
            dilation = _pair(getattr(module, "dilation", 1))
            grow = zip(rf, kernel, dilation, jump, strict=True)
            rf = tuple(r + (k - 1) * d * j for r, k, d, j in grow)
            return rf, tuple(j * s for j, s in zip(jump, stride, strict=True))
        return (rf, jump) if isinstance(module, _LOCAL_MODULES) else (_WHOLE, jump)
    if node.op == "call_function" and node.target in _SHAPE_FUNCTIONS:
        return rf, jump
    if node.op == "call_function" and node.target in _LOCAL_FUNCTIONS:
        return rf, jump
    if node.op == "call_method" and node.target in ("relu", "relu_", "add", "add_", "mul", "size"):
        return rf, jump
    return _WHOLE, jump


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return (int(value[-2]), int(value[-1])) if len(value) >= 2 else (int(value[0]),) * 2
