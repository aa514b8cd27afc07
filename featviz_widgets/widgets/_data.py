"""What the explorer knows about one model on one image, without any widget.

``ExplorerData`` keeps shapes for every layer and tensors only within the memory budget:

- ``set_image`` prepares the image and runs ONE shapes-only pass (``engine.survey``): the layer
  keys in execution order, their shapes, the layout hints and the model's output (predictions).
- ``view(key)`` / ``views(keys)`` capture on demand: a layer missing from the explorer's
  ``BudgetCache`` (never captured, or evicted by the process-wide budget) is captured with one
  ``engine.capture`` forward that stops after the deepest layer asked for, and kept as one
  ``LayerEntry`` (tensor, view, statistics, caption) counted at its real size.
- Graph nodes work the same way: the list is a trace, the shapes one shapes-only pass through the
  graph (``engine.survey_nodes``), the values a capture of the node asked for.

Every engine call runs inside the model owner's lock, waiting at most
``engine.owner.WIDGET_WAIT_S`` for a background job's current step; past that it raises
``engine.ModelBusy`` ("Maximize is running: Cancel it or wait ...").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch
from torch import nn

from featviz_widgets import inputs, layout
from featviz_widgets.engine import (
    BudgetCache,
    LayerInfo,
    base_name,
    capture,
    check_model,
    class_scores,
    default_input_side,
    layouts,
    list_layers,
    list_nodes,
    memory_budget,
    owner_for,
    parse_key,
    strip_wrapper_prefix,
    survey,
    survey_nodes,
    unknown_layer_error,
)
from featviz_widgets.engine import owner as model_owner
from featviz_widgets.widgets._frames import clip_refused
from featviz_widgets.widgets._views import ChannelStats, LayerEntry, LayerView
from featviz_widgets.widgets.strings import say, text

# At most this share of the memory budget goes to layers captured ahead of the user's clicks.
PREFETCH_SHARE = 0.25


class ExplorerData:
    """One model on one image: shapes of every layer, activations on demand (no widgets).

    Parameters
    ----------
    model : nn.Module
        Any PyTorch model; never modified (hooks removed, modes and flags restored).
    img : Any
        Anything :func:`featviz_widgets.inputs.load_image` accepts, or a clip for a video model
        (:func:`featviz_widgets.inputs.prepare_clip`).
    weights, labels, layers, device, size, preprocess, clip
        As for :class:`~featviz_widgets.widgets.LayerExplorer`.

    Attributes
    ----------
    shapes : module output key (``name``, ``name#2``, ``name[0]``) -> shape, in execution order.
    node_shapes : graph node key -> shape once :meth:`load_nodes` ran for this image, else None.
    output : the model's own output on the image (class scores for a classifier).
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
        size: int | None = None,
        preprocess: Any = None,
        clip: bool | None = None,
    ) -> None:
        self.model = check_model(model)
        self.owner = owner_for(model)
        self.weights = weights
        self.preprocess = preprocess
        self.clip = clip
        self._input_note: str | None = None
        self.size = default_input_side(model, size)
        self.device = _check_device(self.owner.device, device)
        self.categories = _categories(weights, labels) or self.owner.class_names()
        with self.using():
            self.infos = {info.name: info for info in list_layers(model)}  # no forward
        self.restrict = _check_restrict(model, layers, self.infos)
        self._cache = BudgetCache()
        self._nodes: list[str] | None = None
        self.node_shapes: dict[str, tuple[int, ...]] | None = None
        self.set_image(img)

    def using(self) -> AbstractContextManager[nn.Module]:
        """Hold the model for a widget action: wait for a job's current step, then ModelBusy."""
        return self.owner.using(timeout=model_owner.WIDGET_WAIT_S)

    # -- the image -------------------------------------------------------------------------
    def set_image(self, img: Any) -> None:
        """Prepare ``img`` and survey every layer's shape in one forward (no tensors kept).

        On failure nothing changes: the explorer keeps showing the last good image.
        """
        prepared = inputs.prepare_image(
            img, self.model, weights=self.weights, size=self.size, preprocess=self.preprocess,
            clip=self.clip,
        )  # fmt: skip
        try:
            with self.using():
                found = survey(self.model, prepared.batch)
        except RuntimeError as error:
            if prepared.frames is None:
                raise
            raise clip_refused(self.owner, prepared.batch, error) from error
        shapes = found.shapes
        if self.restrict is not None:
            wanted = set(self.restrict)
            shapes = {key: shape for key, shape in shapes.items() if base_name(key) in wanted}
        self.prepared = prepared
        self.shapes = shapes
        # Every output's shape, restricted or not: the rules read the outputs before each layer.
        self.hints = layouts(self.model, found)
        self.output = found.output
        self.node_shapes = None
        self._cache.clear()

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the model-ready image, a size the model is known to accept."""
        height, width = self.prepared.batch.shape[-2:]
        return int(height), int(width)

    @property
    def frame_count(self) -> int | None:
        """How many frames the input clip has (what the Frame control counts); None: an image."""
        frames = self.prepared.frames
        return None if frames is None else int(frames.shape[0])

    def close(self) -> None:
        """Free every activation this explorer keeps in the budget."""
        self._cache.clear()

    # -- graph nodes -----------------------------------------------------------------------
    def node_names(self) -> list[str]:
        """FX graph node names, the input placeholder first (a trace, no forward; cached)."""
        if self._nodes is None:
            with self.using():
                self._nodes = list_nodes(self.model)
        return self._nodes

    def load_nodes(self) -> list[str]:
        """Node keys in graph order: one shapes-only pass per image on first use."""
        if self.node_shapes is None:
            self.node_names()
            with self.using():
                self.node_shapes = survey_nodes(self.model, self.prepared.batch)
        return list(self.node_shapes)

    # -- listing ---------------------------------------------------------------------------
    def module_keys(self, convs_only: bool = False) -> list[str]:
        """Capture keys in execution order, optionally only those produced by convolutions."""
        keys = list(self.shapes)
        if convs_only:
            keys = [k for k in keys if self._info(k) is not None and self._info(k).is_conv]
        return keys

    def _info(self, key: str) -> LayerInfo | None:
        return self.infos.get(base_name(key))

    def has(self, key: str) -> bool:
        """Whether ``key`` is a module output or (once listed) a graph node of this image."""
        return key in self.shapes or (self.node_shapes is not None and key in self.node_shapes)

    def shape(self, key: str) -> tuple[int, ...]:
        """The output shape of ``key`` (batch first), from the survey: no capture."""
        if key in self.shapes:
            return self.shapes[key]
        if self.node_shapes is not None and key in self.node_shapes:
            return self.node_shapes[key]
        raise KeyError(key)

    # -- values, captured on demand --------------------------------------------------------
    def entries(
        self, keys: Sequence[str], *, prefetch: Sequence[str] = ()
    ) -> dict[str, LayerEntry]:
        """The entries of ``keys``; those not in the budget are captured in ONE forward.

        ``prefetch`` (the layers the dropdown lists) rides along when a forward runs anyway and
        they fit in :data:`PREFETCH_SHARE` of the budget: after the first layer change, stepping
        through the list costs no forward. The construction asks for its one layer without it.
        """
        found: dict[str, LayerEntry] = {}
        missing: list[str] = []
        for key in dict.fromkeys(keys):
            if not self.has(key):
                raise KeyError(key)
            entry = self._cache.get(key)
            if entry is None:
                missing.append(key)
            else:
                found[key] = entry  # held here: capturing the rest may evict it from the budget
        if missing and all(key in self.shapes for key in missing):
            # Module outputs only: graph-node lists are several times longer, and every node
            # value is copied as the graph runs, so nodes are captured one at a time.
            extra = [
                k for k in prefetch if k in self.shapes and k not in found and k not in missing
            ]
            extra = [k for k in extra if self._cache.get(k) is None]
            affordable = memory_budget() * PREFETCH_SHARE
            if extra and self._estimate([*missing, *extra]) <= affordable:
                missing += extra
        if missing:
            found.update(self._capture(missing))
        return {key: found[key] for key in dict.fromkeys(keys)}

    def _estimate(self, keys: Sequence[str]) -> int:
        """Bytes ``keys`` would take as float32 captures (from the survey's shapes)."""
        return sum(4 * math.prod(self.shape(key)) for key in keys)

    def _capture(self, keys: list[str]) -> dict[str, LayerEntry]:
        """Capture ``keys`` (modules and/or nodes) in one forward, stopped as early as they allow.

        A later call (``name#2``) needs the forward to go on past the module's first call.
        """
        parsed = [parse_key(key) for key in keys]
        names = list(dict.fromkeys(key.name for key in parsed))
        stop_early = all(key.call == 1 for key in parsed)
        with self.using():
            acts = capture(self.model, self.prepared.batch, names, stop_early=stop_early)
        entries = {}
        for key in keys:
            if key not in acts:
                raise RuntimeError(
                    f"{key!r} was not recorded when it was captured again: the model's forward "
                    "takes another path than in the survey of this image"
                )
            hint = layout.hint_for(self.hints, key) if key in self.shapes else None
            entry = entries[key] = LayerEntry(key, acts[key], hint)
            self._cache.put(key, entry, entry.nbytes)
        return entries

    def views(self, keys: Sequence[str]) -> dict[str, LayerView]:
        """Display views of several keys, the missing ones captured together in one forward."""
        return {key: entry.view for key, entry in self.entries(keys).items()}

    def view(self, key: str) -> LayerView:
        """The display view of ``key`` (captured when it is not in the budget)."""
        return self.entries([key])[key].view

    def stats(self, key: str) -> ChannelStats:
        """The channel ranking of ``key``."""
        return self.entries([key])[key].stats

    def summary(self, key: str, lang: str = "en") -> str:
        """The min/max/mean/zeros caption of ``key``'s displayed values (maps or vector)."""
        return self.entries([key])[key].summary(lang)

    def tensor(self, key: str) -> torch.Tensor:
        """The captured tensor of a module or node key, batch first (KeyError when unknown)."""
        return self.entries([key])[key].tensor

    def module(self, key: str) -> Any:
        """The module (Keras: layer) behind a key, or None for FX functional nodes."""
        info = self._info(key)
        return self.owner.adapter.layer(self.model, info.name) if info is not None else None

    def layer_type(self, key: str, lang: str = "en") -> str:
        """The class name of the layer behind a key ("graph node" for FX functional nodes)."""
        info = self._info(key)
        return info.type if info is not None else text(lang, "graph_node")

    def weight(self, key: str) -> torch.Tensor | None:
        """The layer's weight as torch lays it out (``[out, in, kh, kw]``; Linear/Dense
        ``[out, in]``; depthwise ``[channels, 1, kh, kw]``), whatever the framework; else None."""
        info = self._info(key)
        return self.owner.adapter.weight(self.model, info.name) if info is not None else None

    def input_note(self, lang: str = "en") -> str:
        """How the image was scaled when that is unusual ("pixels scaled to [0, 1] (no
        preprocess=)", "preprocess=...resnet.preprocess_input"), else ""."""
        if self._input_note is None:
            self._input_note = inputs.preprocessing(
                self.model, weights=self.weights, size=self.size, preprocess=self.preprocess
            ).caption()
        # a message of inputs is worded by its code; a preprocess= function name is code
        return say(lang, self._input_note)

    # -- names and errors ------------------------------------------------------------------
    def all_names(self) -> list[str]:
        """Every name the explorer knows (keys, modules, nodes), each once."""
        nodes = [*(self.node_shapes or ()), *(self._nodes or ())]
        return list(dict.fromkeys([*self.shapes, *nodes, *self.infos]))

    # -- predictions -----------------------------------------------------------------------
    def class_vector(self) -> np.ndarray | None:
        """The model output (or its ``logits``) as a 1-D class-score vector (batch item 0), or None."""
        out = class_scores(self.output)
        if out is not None and out.dim() == 2 and out.shape[1] > 1:
            return out[0].detach().to("cpu", torch.float64).numpy()
        return None

    def class_name(self, index: int, lang: str = "en") -> str:
        """The name of class ``index`` (from ``labels=`` / ``weights``), else "class 7"."""
        if self.categories is not None and index < len(self.categories):
            return str(self.categories[index])
        return text(lang, "class_index", index=index)


def _check_device(model_dev: torch.device, device: str | torch.device | None) -> torch.device:
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


def _check_restrict(
    model: nn.Module, layers: Sequence[str] | None, infos: dict[str, LayerInfo]
) -> list[str] | None:
    if layers is None:
        return None
    if isinstance(layers, str):
        layers = [layers]
    names = [strip_wrapper_prefix(name, infos) for name in layers]  # "module.conv1": "conv1"
    if not names:
        raise ValueError("layers= is empty: pass None for every layer, or a list of names")
    for name in names:
        if name not in infos:  # module names only: layers= lists what the dropdown offers
            raise unknown_layer_error(model, name, list(infos))
    return names
