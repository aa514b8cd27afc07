"""Keras 3 models on the torch backend: Sequential, Functional (nested too) and subclassed.

A Keras model on the torch backend is an ``nn.Module`` whose ops are torch ops (autograd works
through it), but its layers are not registered as torch submodules: forward hooks never see them.
So this adapter:

- names layers by their Keras names, execution order from one forward; layers inside a nested
  model or layer are ``outer/inner/conv`` (the ``InputLayer`` is not a layer here);
- records outputs by wrapping each watched layer's ``call`` for the duration of one forward (an
  instance attribute over the class method, removed in ``finally``);
- captures top-level layers of a Functional (or Sequential) model the way the classic tutorial
  does: ``keras.Model(model.inputs, [layer.output, ...])``, built once per layer set, which runs
  only the part of the graph the deepest requested layer needs;
- feeds the model channels-last (featviz batches are ``[N, C, H, W]``), always with
  ``training=False`` (BatchNorm statistics never move, dropout is off);
- reads kernels ``(kh, kw, in, out)`` as torch's ``(out, in, kh, kw)``; depthwise kernels per
  channel (``(in * multiplier, 1, kh, kw)``), separable layers by their depthwise part, Dense as
  ``(out, in)``;
- restores ``trainable`` flags on top of the torch snapshot (``requires_grad``, ``.grad``).

Keras is imported only once such a model is in hand (it is then already imported).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn

from .._state import model_device, model_dtype
from .._state import preserved_state as torch_state
from .._types import LayerInfo

__all__ = ["KerasAdapter", "keras_module"]

# Multi-output models built from a Functional model's graph, per model and layer set.
_SUBMODELS: weakref.WeakKeyDictionary[nn.Module, dict[tuple[str, ...], Any]] = (
    weakref.WeakKeyDictionary()
)


def keras_module() -> Any:
    """``keras``, checked to run on the torch backend (TypeError that says how otherwise)."""
    import keras

    backend = keras.backend.backend()
    if backend != "torch":
        raise TypeError(
            f"keras runs on the {backend!r} backend; featviz needs Keras on PyTorch: set "
            "os.environ['KERAS_BACKEND'] = 'torch' before keras is first imported"
        )
    return keras


def _children(layer: Any) -> list[Any]:
    children = layer._flatten_layers(include_self=False, recursive=False)
    return [child for child in children if type(child).__name__ != "InputLayer"]


def walk(model: Any) -> Iterator[tuple[str, Any]]:
    """(name, layer) for every layer inside ``model``, depth first, each layer once."""
    seen = {id(model)}

    def visit(layer: Any, prefix: str) -> Iterator[tuple[str, Any]]:
        for child in _children(layer):
            if id(child) in seen:
                continue
            seen.add(id(child))
            name = f"{prefix}/{child.name}" if prefix else child.name
            yield name, child
            yield from visit(child, name)

    yield from visit(model, "")


def _conv_types(keras: Any) -> tuple[type, ...]:
    layers = keras.layers
    names = (
        "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
        "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "Dense",
    )  # fmt: skip
    return tuple(getattr(layers, name) for name in names if hasattr(layers, name))


def _num_params(layer: Any) -> int:
    return sum(math.prod(int(s) for s in variable.shape) for variable in layer.weights)


class KerasAdapter:
    """Keras 3 on torch (see :class:`~featviz_widgets.engine.adapters.Adapter`)."""

    framework = "keras"
    traceable = False
    input_layout = "channels_last"

    def layers(self, model: nn.Module) -> list[Any]:
        convs = _conv_types(keras_module())
        return [
            LayerInfo(
                name=name,
                type=type(layer).__name__,
                num_params=_num_params(layer),
                shapes=None,
                is_conv=isinstance(layer, convs),
                calls=0,
            )
            for name, layer in walk(model)
        ]

    def names(self, model: nn.Module) -> list[str]:
        return [name for name, _ in walk(model)]

    def layer(self, model: nn.Module, name: str) -> Any:
        for found, layer in walk(model):
            if found == name:
                return layer
        raise KeyError(f"{type(model).__name__} has no layer {name!r}")

    def scripted_parent(self, model: nn.Module, name: str) -> str | None:
        return None  # Keras layers are never TorchScript

    @contextmanager
    def watch(
        self,
        model: nn.Module,
        names: Sequence[str],
        record: Callable[[str, object], None],
        *,
        prepend: bool = False,
    ) -> Iterator[None]:
        layers = dict(walk(model))
        wrapped: list[Any] = []
        try:
            for name in names:
                target = model if name == "" else layers[name]
                object.__setattr__(target, "call", _recording(target.call, name, record))
                wrapped.append(target)
            yield
        finally:
            for target in wrapped:
                target.__dict__.pop("call", None)  # the class's own call shows through again

    def forward(self, model: nn.Module, x: Tensor, *, copy: bool = True) -> object:
        _check_built(model)
        return model(self.model_input(model, x) if copy else _to_layout(model, x), training=False)

    def capture_direct(
        self, model: nn.Module, x: Tensor, names: Sequence[str]
    ) -> dict[str, Tensor] | None:
        submodel = _submodel(model, tuple(names))
        if submodel is None:
            return None
        outputs = submodel(self.model_input(model, x), training=False)
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        return dict(zip(names, outputs, strict=True))

    def model_input(self, model: nn.Module, x: Tensor) -> Tensor:
        moved = _to_layout(model, x)
        if moved.is_floating_point():
            moved = moved.to(device=model_device(model), dtype=model_dtype(model), copy=True)
        else:
            moved = moved.to(device=model_device(model), copy=True)
        return moved.contiguous()

    def weight(self, model: nn.Module, name: str) -> Tensor | None:
        return canonical_weight(self.layer(model, name))

    def declared_layouts(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, str] | None:
        # Keras keeps channels last (image_data_format "channels_last"): NHWC maps, NDHWC video.
        return {key: "channels_last" for key, shape in shapes.items() if len(shape) in (4, 5)}

    @contextmanager
    def preserved_state(self, model: nn.Module) -> Iterator[nn.Module]:
        flags = [(layer, layer.trainable) for _, layer in walk(model)]
        flags.append((model, model.trainable))
        with torch_state(model):
            try:
                yield model
            finally:
                for layer, flag in reversed(flags):
                    if layer.trainable != flag:
                        layer.trainable = flag

    def to_eval(self, model: nn.Module) -> None:
        """Nothing to switch: every call passes ``training=False``."""

    def freeze(self, model: nn.Module) -> None:
        for param in model.parameters():
            if param.requires_grad:
                param.requires_grad_(False)

    def input_channels(self, model: nn.Module) -> int | None:
        shape = _input_shape(model)
        if shape is not None and isinstance(shape[-1], int):
            return int(shape[-1])
        for _, layer in walk(model):
            kernel = getattr(layer, "kernel", None)
            if kernel is not None and len(kernel.shape) >= 3:
                return int(kernel.shape[-2])
        return None

    def input_dims(self, model: nn.Module) -> int:
        return 2  # Keras video models (Conv3D stems) are not supported: images only

    def image_list_input(self, model: nn.Module) -> None:
        return None  # Keras models take one batch tensor

    def declared_input_size(self, model: nn.Module) -> tuple[int, int] | None:
        shape = _input_shape(model)
        if shape is not None and len(shape) == 4 and all(isinstance(s, int) for s in shape[1:3]):
            return int(shape[1]), int(shape[2])
        return None

    def says_fixed_size(self, model: nn.Module) -> tuple[int, int] | None:
        return None

    def class_names(self, model: nn.Module) -> list[str] | None:
        return None

    def default_normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # [0, 1] pixels: pass preprocess= for others


def _recording(call: Callable, name: str, record: Callable[[str, object], None]) -> Callable:
    def recorded(*args: Any, **kwargs: Any) -> Any:
        output = call(*args, **kwargs)
        record(name, output)
        return output

    return recorded


def _check_built(model: Any) -> None:
    if not model.built:
        raise ValueError(
            f"the Keras model {model.name!r} is not built yet (no input shape): call it once on "
            "a batch, or build it with keras.Input / input_shape=..., then pass it to featviz"
        )


def _input_shape(model: Any) -> tuple | None:
    """The model's input shape, batch axis first (None: unknown, e.g. an unbuilt subclass)."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs:
        return tuple(inputs[0].shape)
    shapes = getattr(model, "_build_shapes_dict", None)
    if isinstance(shapes, dict) and len(shapes) == 1:
        shape = next(iter(shapes.values()))
        return tuple(shape) if isinstance(shape, tuple | list) else None
    return None


def _to_layout(model: Any, x: Tensor) -> Tensor:
    """Channels moved last, unless ``x`` already has the model's declared input shape."""
    if x.dim() < 3:
        return x
    shape = _input_shape(model)
    if shape is not None and len(shape) == x.dim():
        fits = all(s is None or s == n for s, n in zip(shape[1:], x.shape[1:], strict=True))
        moved = tuple(x.shape[2:]) + (x.shape[1],)
        if fits and not all(s is None or s == n for s, n in zip(shape[1:], moved, strict=True)):
            return x  # already channels-last (a batch of the user's own)
    return x.movedim(1, -1)


def _submodel(model: Any, names: tuple[str, ...]) -> Any | None:
    """The tutorial's multi-output model for top-level layers of a Functional graph, or None.

    Each layer's output is read from the node of this graph that called it (a nested model's own
    ``.output`` belongs to its inner graph); a layer called more than once is left to the
    watched forward (its later calls are ``name#2``).
    """
    graph = getattr(model, "_functional", None) or model
    nodes = getattr(graph, "_nodes_by_depth", None)
    if not isinstance(nodes, dict) or any("/" in name for name in names):
        return None
    cache = _SUBMODELS.setdefault(model, {})
    if names not in cache:
        calls: dict[str, list[Any]] = {}
        for depth_nodes in nodes.values():
            for node in depth_nodes:
                calls.setdefault(node.operation.name, []).append(node)
        outputs = []
        for name in names:
            found = calls.get(name, [])
            if len(found) != 1 or len(found[0].outputs) != 1:
                cache[names] = None  # called twice, not in the graph, or several outputs
                return None
            outputs.append(found[0].outputs[0])
        cache[names] = keras_module().Model(graph.inputs, outputs)
    return cache[names]


def canonical_weight(layer: Any) -> Tensor | None:
    """A Keras layer's kernel laid out as torch's weight, or None when it has none."""
    keras = keras_module()
    layers = keras.layers
    depthwise = tuple(
        getattr(layers, n) for n in ("DepthwiseConv1D", "DepthwiseConv2D") if hasattr(layers, n)
    )
    separable = tuple(
        getattr(layers, n) for n in ("SeparableConv1D", "SeparableConv2D") if hasattr(layers, n)
    )
    if isinstance(layer, depthwise + separable):
        kernel = (layer.kernel if isinstance(layer, depthwise) else layer.depthwise_kernel).value
        # (*k, in, multiplier) -> (in * multiplier, 1, *k): one kernel per output channel
        spatial = kernel.dim() - 2
        per_channel = kernel.permute(spatial, spatial + 1, *range(spatial))
        return per_channel.reshape(-1, 1, *per_channel.shape[2:])
    kernel = getattr(layer, "kernel", None)
    if kernel is None or len(kernel.shape) < 2:
        return None
    value = kernel.value
    if value.dim() == 2:  # Dense (in, out) -> (out, in)
        return value.t()
    spatial = value.dim() - 2  # (*k, in, out) -> (out, in, *k)
    return value.permute(spatial + 1, spatial, *range(spatial))
