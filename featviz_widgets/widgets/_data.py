"""What the explorer knows about one model on one image, without any widget.

``ExplorerData`` runs the single capture forward, keeps the activations, and turns each captured
tensor into a ``LayerView``: a displayable ``[C, H, W]`` stack (or a 1-D vector) plus the channel
statistics the controls need. Views are built lazily and cached, so a control change never runs
the model again.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from featviz_widgets import inputs, layout, render
from featviz_widgets.engine import (
    LayerInfo,
    capture,
    list_layers,
    list_nodes,
    model_device,
)

# "layer1.0.relu#2" -> "layer1.0.relu";  "aux['out']" / "head[0]" -> "aux" / "head"
_SUFFIX = re.compile(r"(#\d+)?(\[.*\])?$")


def base_name(key: str) -> str:
    """The module (or node) name behind a capture key (call and part suffixes removed)."""
    return _SUFFIX.sub("", key) or key


@dataclass(frozen=True)
class LayerView:
    """One captured tensor, shaped for display (batch item 0).

    ``kind`` is ``"maps"`` (``maps`` is ``[C, H, W]``), ``"vector"`` (``vector`` is ``[N]``, one
    value per unit) or ``"none"`` (nothing sensible to draw; ``note`` says why). ``frames`` keeps
    ``[C, T, H, W]`` for 3-D convolutions, whose ``maps`` are the mean over time.
    """

    key: str
    shape: tuple[int, ...]
    kind: str
    maps: np.ndarray | None = None
    vector: np.ndarray | None = None
    frames: np.ndarray | None = None
    note: str = ""

    @property
    def channels(self) -> int:
        """Number of selectable channels (units for a vector)."""
        if self.maps is not None:
            return int(self.maps.shape[0])
        return 0 if self.vector is None else int(self.vector.shape[0])

    @property
    def label(self) -> str:
        """Shape without the batch dimension, e.g. ``128x28x28``."""
        return "x".join(str(s) for s in self.shape[1:]) or "scalar"


_NOTES = {
    "channels_last": "channels-last layout",
    "tokens": "tokens as a grid",
    "windows": "attention windows re-assembled",
    "grid_windows": "grid-attention windows re-assembled",
    "image": "shown as one map",
    "folded": "leading axes folded into channels",
}


def interpret(key: str, tensor: torch.Tensor, hint: str | None = None) -> LayerView:
    """Shape one captured tensor (batch item 0) for display.

    Parameters
    ----------
    key : str
        Capture key (``"layer2.0.conv1"``, ``"relu#2"``...).
    tensor : torch.Tensor
        The captured output, batch first.
    hint : str, optional
        Its layout from :func:`featviz_widgets.layout.layout_hints` (channels last, tokens...).

    Examples
    --------
    >>> interpret("conv", torch.zeros(1, 8, 4, 4)).maps.shape
    (8, 4, 4)
    """
    shape = tuple(int(s) for s in tensor.shape)
    if tensor.dim() < 2 or tensor.numel() == 0:
        return LayerView(key, shape, "none", note="no channels to show (scalar or empty output)")
    arr = tensor.detach()[0].to("cpu", torch.float32).numpy()
    read = layout.to_channel_maps(arr, hint=hint)
    note = _NOTES.get(read.layout, "")
    if read.class_token is not None:
        note += " (class token set aside)"
    if read.kind == "vector":
        return LayerView(key, shape, "vector", vector=read.maps, note=note)
    if read.kind == "video":
        frames = np.ascontiguousarray(read.maps)
        return LayerView(key, shape, "maps", maps=frames.mean(axis=1), frames=frames,
                         note="mean over time")  # fmt: skip
    return LayerView(key, shape, "maps", maps=np.ascontiguousarray(read.maps), note=note)


@dataclass(frozen=True)
class ChannelStats:
    """Per-channel means (the ranking) and the strongest-first order."""

    means: np.ndarray
    strongest: np.ndarray


def channel_stats(view: LayerView) -> ChannelStats:
    """Mean per channel and channels sorted strongest first (stable: ties keep index order)."""
    if view.maps is not None:
        means = render.channel_stats(view.maps)["mean"].astype(np.float64)
    elif view.vector is not None:
        means = view.vector.astype(np.float64)
    else:
        means = np.zeros(0)
    order = np.argsort(-np.nan_to_num(means, nan=-np.inf), kind="stable")
    return ChannelStats(means=means, strongest=order)


def summary(values: np.ndarray) -> str:
    """min / max / mean / % zeros of an array, as one caption line."""
    values = np.atleast_1d(np.asarray(values))
    lo, hi = values.min(), values.max()
    if np.isfinite(lo) and np.isfinite(hi):  # NaN and inf reach min or max: all finite, no mask
        finite = values
    else:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return "no finite values"
        lo, hi = finite.min(), finite.max()
    zeros = 100.0 * float(np.count_nonzero(values == 0)) / values.size
    mean = finite.mean(dtype=np.float64)
    return f"min {lo:.3g} · max {hi:.3g} · mean {mean:.3g} · {zeros:.1f}% zeros"


def close_matches(name: str, names: Sequence[str]) -> str:
    """A ' Did you mean ...?' hint for an unknown name (empty when nothing is close)."""
    near = difflib.get_close_matches(name, list(names), n=5, cutoff=0.5)
    return f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""


class ExplorerData:
    """One model on one image: the capture, the views and the prediction (no widgets).

    Parameters
    ----------
    model : nn.Module
        Any PyTorch model; never modified (hooks removed, modes and flags restored).
    img : Any
        Anything :func:`featviz_widgets.inputs.load_image` accepts.
    weights, labels, layers, device, size
        As for :class:`~featviz_widgets.widgets.LayerExplorer`.
    """

    def __init__(
        self,
        model: nn.Module,
        img: Any,
        *,
        weights: Any = None,
        labels: Sequence[str] | None = None,
        layers: Sequence[str] | None = None,
        device: str | torch.device | None = None,
        size: int = 224,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.weights = weights
        self.size = size
        self.device = _check_device(model, device)
        self.categories = _categories(weights, labels)
        self.infos = {info.name: info for info in list_layers(model)}
        self.restrict = _check_restrict(layers, self.infos)
        self._nodes: list[str] | None = None
        self.set_image(img)

    # -- capture ---------------------------------------------------------------------------
    def set_image(self, img: Any) -> None:
        """Prepare ``img`` and capture every layer in one forward (replaces all caches)."""
        prepared = inputs.prepare_image(img, self.model, weights=self.weights, size=self.size)
        acts, output = _capture_with_output(self.model, prepared.batch, self.restrict)
        self.prepared = prepared
        self.activations = acts
        self.hints = layout.layout_hints(self.model, acts)
        self.output = output
        self.node_activations: dict[str, torch.Tensor] = {}
        self._views: dict[str, LayerView] = {}
        self._stats: dict[str, ChannelStats] = {}
        self._summaries: dict[str, str] = {}

    def node_names(self) -> list[str]:
        """FX graph node names, the input placeholder first (a trace, no forward; cached)."""
        if self._nodes is None:
            self._nodes = list_nodes(self.model)
        return self._nodes

    def load_nodes(self) -> list[str]:
        """Node names with their activations, captured in one extra forward on first use."""
        self.node_names()
        if not self.node_activations and self._nodes:
            x = self.prepared.batch.to(self.device)
            self.node_activations = capture(self.model, x, self._nodes, stop_early=False)
        return list(self.node_activations)

    # -- listing ---------------------------------------------------------------------------
    def module_keys(self, convs_only: bool = False) -> list[str]:
        """Capture keys in execution order, optionally only those produced by convolutions."""
        keys = list(self.activations)
        if convs_only:
            keys = [k for k in keys if self._info(k) is not None and self._info(k).is_conv]
        return keys

    def _info(self, key: str) -> LayerInfo | None:
        return self.infos.get(base_name(key))

    def tensor(self, key: str) -> torch.Tensor:
        """The captured tensor for a module or node key (KeyError when unknown)."""
        if key in self.activations:
            return self.activations[key]
        return self.node_activations[key]

    def has(self, key: str) -> bool:
        return key in self.activations or key in self.node_activations

    def view(self, key: str) -> LayerView:
        """The cached display view of ``key``."""
        if key not in self._views:
            hint = layout.hint_for(self.hints, key) if key in self.activations else None
            self._views[key] = interpret(key, self.tensor(key), hint)
        return self._views[key]

    def stats(self, key: str) -> ChannelStats:
        """The cached channel ranking of ``key``."""
        if key not in self._stats:
            self._stats[key] = channel_stats(self.view(key))
        return self._stats[key]

    def summary(self, key: str) -> str:
        """The cached :func:`summary` caption of ``key``'s displayed values (maps or vector)."""
        if key not in self._summaries:
            view = self.view(key)
            self._summaries[key] = summary(view.maps if view.maps is not None else view.vector)
        return self._summaries[key]

    def module(self, key: str) -> nn.Module | None:
        """The module behind a key, or None for FX functional nodes."""
        info = self._info(key)
        return self.model.get_submodule(info.name) if info is not None else None

    def all_names(self) -> list[str]:
        """Every name the explorer knows (keys, modules, nodes), each once."""
        names = [*self.activations, *self.node_activations, *self.infos, *(self._nodes or [])]
        return list(dict.fromkeys(names))

    def unknown_layer_error(self, name: object) -> ValueError:
        """The ValueError for a layer that is not in the explorer, with close matches."""
        if not isinstance(name, str):
            return ValueError(f"layer must be a string, got {type(name).__name__}")
        hint = close_matches(name, self.all_names())
        return ValueError(f"unknown layer {name!r}.{hint} See ex.layers for every name.")

    # -- predictions -----------------------------------------------------------------------
    def class_vector(self) -> np.ndarray | None:
        """The model output as a 1-D class-score vector (batch item 0), or None when it is not."""
        out = self.output
        if isinstance(out, torch.Tensor) and out.dim() == 2 and out.shape[1] > 1:
            return out[0].detach().to("cpu", torch.float64).numpy()
        return None

    def class_name(self, index: int) -> str:
        if self.categories is not None and index < len(self.categories):
            return str(self.categories[index])
        return f"class {index}"


def _check_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    model_dev = model_device(model)
    if device is None:
        return model_dev
    wanted = torch.device(device)
    if wanted.type != model_dev.type or (
        wanted.index is not None and model_dev.index is not None and wanted.index != model_dev.index
    ):
        raise ValueError(
            f"device={str(wanted)!r} but the model's parameters are on {model_dev}; the explorer "
            f"never moves your model: call model.to({str(wanted)!r}) first, or omit device="
        )
    return model_dev


def _categories(weights: Any, labels: Sequence[str] | None) -> list[str] | None:
    if labels is not None:
        if isinstance(labels, str) or not isinstance(labels, Sequence):
            raise TypeError(
                f"labels must be a sequence of class names, got {type(labels).__name__}"
            )
        return [str(label) for label in labels]
    meta = getattr(weights, "meta", None)
    if isinstance(meta, dict) and meta.get("categories"):
        return list(meta["categories"])
    return None


def _check_restrict(layers: Sequence[str] | None, infos: dict[str, LayerInfo]) -> list[str] | None:
    if layers is None:
        return None
    if isinstance(layers, str):
        layers = [layers]
    names = list(layers)
    if not names:
        raise ValueError("layers= is empty: pass None for every layer, or a list of names")
    for name in names:
        if name not in infos:
            hint = close_matches(name, list(infos))
            raise ValueError(f"unknown layer {name!r} in layers=.{hint} Use list_layers(model).")
    return names


def _capture_with_output(
    model: nn.Module, batch: torch.Tensor, layers: list[str] | None
) -> tuple[dict[str, torch.Tensor], Any]:
    """Capture ``layers`` (every module when None) and keep the model's output, in one forward.

    ``capture`` (not the ``Capture`` context) so later captures of the same model keep outputs
    by reference where it learned that is safe; a hook on the root module, removed in ``finally``,
    catches the final output for the Predictions tab.
    """
    outputs: list[Any] = []
    handle = model.register_forward_hook(lambda _module, _inputs, output: outputs.append(output))
    try:
        acts = capture(model, batch, layers, stop_early=False)
    finally:
        handle.remove()
    return acts, outputs[-1] if outputs else None
