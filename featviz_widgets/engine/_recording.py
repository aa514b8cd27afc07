"""``Recording``: some layers of one model, recorded forward after forward, with their layouts.

The one recording API for code that runs a model many times: activation maximization records
with the autograd graph (every step a forward and a backward through the image), dataset
examples record detached values batch after batch. Both take the layers' layouts from one
shapes-only survey, so a channel is read the way the explorer shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

from torch import Tensor, nn

from ._capture import capture, survey
from ._facts import class_scores
from ._layouts import layouts
from ._names import check_layers, resolve
from ._recorder import Recorder, StopForward, parse_key
from ._state import check_model
from .owner import owner_for

__all__ = ["Recording", "RecordingError"]


class RecordingError(ValueError):
    """A requested layer gave no tensor to keep: it never ran, or its output is not one tensor.

    A problem of the layers asked for, not of the input: another input size will not help.
    """


class Recording:
    """The outputs of some layers of ``model``, recorded forward after forward.

    Parameters
    ----------
    model : the network; it is only run inside its owner (``owner_for(model).using()``).
    layers : capture keys checked against the model's layers (:func:`check_layers`).
    keep_graph : how each forward records.

        - False: one :func:`capture` per call (CPU tensors, detached) that stops after the
          last layer needed, unless a later call (``"name#2"``) is asked for. Keys may be module
          names, graph nodes, parts (``"attn[0]"``) and later calls.
        - True: each module's first call keeps its autograd graph; the forward stops after the
          last layer needed; earlier outputs are cloned (a later in-place op would edit them),
          the last is not. Keys are module names, each output one tensor, and ``""``: the
          model's own output (its class scores: the output itself or its ``logits``). The model
          runs in inference mode; the caller feeds ``x`` on its device and dtype, and holds
          the model (``owner_for(model).using()``) with gradients enabled while it uses the graph.
    by_reference : with ``keep_graph``, keep every output as the very tensor the rest of the
        forward used, not a clone: gradients of the model's output can then be taken with respect
        to it (attribution). A later in-place op (a ``ReLU(inplace=True)``) shows in its values.

    Raises ValueError for an unknown layer (:func:`unknown_layer_error`) and
    :class:`RecordingError` for keys the chosen way cannot record, before any forward.

    Examples
    --------
    >>> import torch
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Flatten())
    >>> recording = Recording(net, ["0", "1"], keep_graph=True)
    >>> x = torch.randn(2, 3, 8, 8, requires_grad=True)
    >>> with owner_for(net).using(), torch.enable_grad():
    ...     outputs = recording(x)  # stops after "1": Flatten never runs
    >>> outputs["0"].requires_grad, bool((outputs["0"] < 0).any())  # cloned before the ReLU
    (True, True)
    >>> recording.layouts(x)
    {'0': 'channels_first', '1': 'channels_first'}
    """

    def __init__(
        self,
        model: nn.Module,
        layers: str | Sequence[str],
        *,
        keep_graph: bool = False,
        by_reference: bool = False,
    ) -> None:
        self.model = check_model(model)
        self.keep_graph = keep_graph
        self.by_reference = by_reference
        if by_reference and not keep_graph:
            raise RecordingError("by_reference=True keeps graph outputs: pass keep_graph=True too")
        wanted = [layers] if isinstance(layers, str) else layers
        named = [key for key in wanted if key != ""] if isinstance(wanted, Sequence) else wanted
        self.keys = check_layers(model, named) if named else []
        self.output = isinstance(wanted, Sequence) and "" in wanted
        parsed = [parse_key(key) for key in self.keys]
        self.names = list(dict.fromkeys(key.name for key in parsed))
        self._later_calls = any(key.call > 1 for key in parsed)
        self._layouts: dict[str, str] = {}
        self._layouts_at: tuple[int, ...] | None = None
        if keep_graph:  # whole module outputs, first calls only
            modules, nodes = resolve(model, self.names) if self.names else ([], [])
            others = [*nodes, *(key for key in self.keys if key not in modules)]
            if others:
                raise RecordingError(
                    f"{others[0]!r} is not a module name: with its graph, a recording keeps "
                    "whole module outputs (list_layers(model) lists them)"
                )
        elif self.output:
            raise RecordingError("the model's own output ('') is recorded with keep_graph=True")

    def layouts(self, x: Tensor) -> dict[str, str]:
        """The layout hint of every output (:func:`layouts`) at ``x``'s input size.

        One shapes-only survey of ``x[:1]`` per input size, kept for the next calls.
        """
        if not self.names:
            return {}
        size = tuple(x.shape[1:])
        if self._layouts_at != size:
            found = survey(self.model, x[:1].detach(), what="the layer layouts")
            self._layouts, self._layouts_at = layouts(self.model, found), size
        return self._layouts

    def __call__(self, x: Tensor, *, network: nn.Module | None = None) -> dict[str, Tensor]:
        """Run ``x`` (a featviz batch ``[N, C, H, W]``; a clip: folded frames) and return
        ``{key: output}`` for every key asked for.

        ``network``: with ``keep_graph`` and only ``""`` asked for, run this stand-in for the
        model instead (its batch-norm-folded twin, :func:`output_twin`).
        """
        if self.keep_graph:
            return self._with_graph(x, network, whole=self.output)[0]
        acts = capture(self.model, x, self.names, stop_early=not self._later_calls)
        for key in self.keys:
            if key not in acts:
                parts = [k for k in acts if parse_key(k).name == parse_key(key).name]
                raise RecordingError(
                    f"{key!r} is not an output of the forward: its layer gave {parts or 'nothing'}"
                    " (a tuple output names its parts 'name[0]'; a second call 'name#2')"
                )
        return {key: acts[key] for key in self.keys}

    def with_output(self, x: Tensor) -> tuple[dict[str, Tensor], object]:
        """Run the whole forward (``keep_graph`` only) and return the recorded layers (as
        :meth:`__call__`) and the model's output as it returned it (a tensor, a dict of
        segmentation maps, a list of detections...), its graph kept.

        Examples
        --------
        >>> recording = Recording(net, ["0"], keep_graph=True, by_reference=True)
        >>> with owner_for(net).using(), torch.enable_grad():
        ...     outputs, logits = recording.with_output(x)
        ...     grad = torch.autograd.grad(logits.sum(), outputs["0"])[0]
        >>> grad.shape
        torch.Size([2, 4, 6, 6])
        """
        if not self.keep_graph:
            raise RecordingError("the model's output is recorded with keep_graph=True")
        return self._with_graph(x, None, whole=True)

    def _with_graph(
        self, x: Tensor, network: nn.Module | None, *, whole: bool
    ) -> tuple[dict[str, Tensor], object]:
        modules = self.keys
        if network is not None and modules:
            raise ValueError("a stand-in network gives the model's output only, not its layers")
        owner = owner_for(self.model)
        model = self.model if network is None else network
        # The model's output needs the whole forward: stop early only without it.
        recorder = Recorder(
            modules,
            stop_early=not whole,
            keep_graph=True,
            memory=None,
            by_reference=self.by_reference,
        )
        returned: dict[str, str] = {}

        def record(name: str, output: object) -> None:
            returned.setdefault(name, type(output).__name__)
            recorder.record(name, output)

        output = None
        # StopForward: every layer ran, and the forward went no further than needed.
        with owner.using():
            owner.adapter.to_eval(model)  # inference mode, as every engine forward (restored)
            with owner.adapter.watch(model, modules, record), suppress(StopForward):
                output = owner.adapter.forward(model, x, copy=False)
        acts = {}
        for name in modules:
            if name not in recorder.activations:
                if name not in returned:
                    raise RecordingError(f"layer {name!r} never ran in the forward")
                raise RecordingError(f"layer {name!r} returns {returned[name]}, not one tensor")
            acts[name] = recorder.activations[name]
        if self.output:
            scores = class_scores(output)
            scores = output if scores is None else scores
            if not isinstance(scores, Tensor):
                raise RecordingError(
                    f"the model returns {type(output).__name__}, not a tensor of logits"
                )
            acts[""] = scores
        return acts, output
