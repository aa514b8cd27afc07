"""The one hook mechanism and the one output-naming grammar (private to the engine).

Every forward hook featviz puts on a model is registered by :func:`forward_hooks`, inside a
``try/finally`` that removes it. Every captured output is named by :func:`flatten` and read back
by :func:`parse_key`, with one grammar:

- ``name``: a module's (or graph node's) output, ``""`` being the model itself;
- ``name#2``: its second call (a module that runs twice);
- ``name[0]``: a part of a tuple/list output; ``name['out']``: a part of a dict/namedtuple
  output. Dict keys keep brackets rather than ``name.out`` because a dot already separates module
  paths (``layer1.0``), and a submodule called ``out`` would make ``aux.out`` ambiguous.
"""

from __future__ import annotations

import ast
import re
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from torch import Tensor, nn

from ._wrappers import is_scripted


class StopForward(BaseException):
    """Raised from a hook once every requested layer has fired; caught by capture.

    A BaseException so that a model's own ``except Exception`` cannot swallow it.
    """


def flatten(key: str, value: object) -> list[tuple[str, Tensor]]:
    """Name every tensor inside an output: ``key``, ``key[0]``, ``key['out']`` (nested too)."""
    if isinstance(value, Tensor):
        return [(key, value)]
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple: name the fields
        items = [(f"[{field!r}]", part) for field, part in zip(value._fields, value, strict=True)]
    elif isinstance(value, Mapping):
        items = [(f"[{k!r}]", part) for k, part in value.items()]
    elif isinstance(value, tuple | list):
        items = [(f"[{i}]", part) for i, part in enumerate(value)]
    else:  # None, ints, strings: nothing to show
        return []
    return [pair for suffix, part in items for pair in flatten(key + suffix, part)]


@dataclass(frozen=True)
class CaptureKey:
    """A parsed capture key: ``"layer1.0.relu#2[0]"`` -> name ``layer1.0.relu``, call 2, part (0,)."""

    name: str
    call: int = 1
    part: tuple[int | str, ...] = ()

    def __str__(self) -> str:
        call = f"#{self.call}" if self.call > 1 else ""
        return self.name + call + "".join(f"[{p!r}]" for p in self.part)


_KEY = re.compile(r"^(?P<name>[^#\[]*)(?:#(?P<call>[1-9][0-9]*))?(?P<part>(?:\[[^\]]+\])*)$")
_PART = re.compile(r"\[([^\]]+)\]")


def parse_key(key: str) -> CaptureKey:
    """Split a capture key into module (or node) name, call number and output part.

    The one reader of the grammar :func:`flatten` writes. Raises ValueError for a malformed key.

    Examples
    --------
    >>> parse_key("layer1.0.relu#2[0]")
    CaptureKey(name='layer1.0.relu', call=2, part=(0,))
    >>> parse_key("aux['out']").part
    ('out',)
    """
    if not isinstance(key, str):
        raise TypeError(f"a capture key is a string, got {type(key).__name__}")
    match = _KEY.match(key)
    if match is None:
        raise ValueError(
            f"malformed capture key {key!r}: expected name, name#2, name[0] or name['key']"
        )
    parts: list[int | str] = []
    for text in _PART.findall(match["part"]):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ValueError(f"malformed part {text!r} in capture key {key!r}") from None
        if not isinstance(value, int | str):
            raise ValueError(f"malformed part {text!r} in capture key {key!r}")
        parts.append(value)
    return CaptureKey(match["name"], int(match["call"] or 1), tuple(parts))


def base_name(key: str) -> str:
    """The module or node behind a capture key: ``"relu#2[0]"`` -> ``"relu"``."""
    return parse_key(key).name


@contextmanager
def forward_hooks(
    model: nn.Module,
    names: Sequence[str],
    record: Callable[[str, object], None],
    *,
    prepend: bool = False,
) -> Iterator[None]:
    """Call ``record(name, output)`` after each named module runs; every hook goes on exit.

    ``""`` names the model itself (its final output). This is the only place in featviz that
    registers a hook on a model: capture, graph-node capture, activation maximization and the
    widgets all record through it. ``prepend`` runs ours before the model's own hooks.
    """
    handles = []

    def make_hook(name: str) -> Callable[[nn.Module, object, object], None]:
        def hook(module: nn.Module, args: object, output: object) -> None:
            record(name, output)

        return hook

    try:
        for name in names:
            module = model.get_submodule(name)
            if is_scripted(module) and name:  # torch refuses hooks on TorchScript: tap its slot
                handles.append(_Tap.into(model, name, make_hook(name)))
            else:
                handles.append(module.register_forward_hook(make_hook(name), prepend=prepend))
        yield
    finally:
        for handle in reversed(handles):
            handle.remove()


class _Tap(nn.Module):
    """Stands in a TorchScript submodule's slot in its parent for one forward: calls it and
    hands its output to ``hook``. ``remove()`` puts the scripted module back (the forward-hook
    handle's interface). The scripted module is held outside ``_modules``, so the model's
    parameters and buffers are never listed twice."""

    def __init__(self, scripted: nn.Module, hook: Callable[[nn.Module, object, object], None]):
        super().__init__()
        object.__setattr__(self, "_scripted", scripted)
        object.__setattr__(self, "_hook", hook)
        self._slot: tuple[nn.Module, str] | None = None

    @classmethod
    def into(cls, model: nn.Module, name: str, hook: Callable) -> _Tap:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        tap = cls(parent._modules[child], hook)
        tap._slot = (parent, child)
        parent._modules[child] = tap
        return tap

    def forward(self, *args: object, **kwargs: object) -> object:
        output = self._scripted(*args, **kwargs)
        self._hook(self._scripted, args, output)
        return output

    def remove(self) -> None:
        if self._slot is not None:
            parent, child = self._slot
            parent._modules[child] = self._scripted
            self._slot = None


class ShapeRecorder:
    """Keeps only the output shapes of every call, keyed by the capture grammar, in run order."""

    def __init__(self) -> None:
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.calls: dict[str, int] = {}
        self.output: object = None

    def record(self, name: str, output: object) -> None:
        if name == "":  # the model itself: keep its (small) final output for predictions
            self.output = output
            return
        count = self.calls[name] = self.calls.get(name, 0) + 1
        key = name if count == 1 else f"{name}#{count}"
        for part, tensor in flatten(key, output):
            self.shapes[part] = tuple(int(s) for s in tensor.shape)


def version_of(tensor: Tensor) -> int | None:
    """The in-place version counter, or None for inference tensors (which have none)."""
    try:
        return tensor._version
    except RuntimeError:
        return None


class InplaceMemory:
    """What earlier captures of one model learned about in-place ops on module outputs.

    Copying every output costs memory bandwidth, yet only a few are overwritten later (the
    ``bn`` before an in-place ReLU, the branch before ``out += identity``). A module's output is
    kept by reference once a complete forward showed it unchanged; the capture still checks
    each reference's version counter afterwards and re-runs with copies if one did change.
    """

    def __init__(self) -> None:
        self.clean: set[str] = set()  # seen unchanged after a complete forward
        self.overwritten: set[str] = set()  # seen changed by a later in-place op

    def needs_copy(self, name: str) -> bool:
        return name not in self.clean or name in self.overwritten

    def learn(self, ran: set[str], overwritten: set[str], complete: bool) -> None:
        self.overwritten |= overwritten
        if complete:  # after a stop-early run, the unexecuted rest proves nothing
            self.clean |= ran - overwritten


_MEMORY: weakref.WeakKeyDictionary[nn.Module, InplaceMemory] = weakref.WeakKeyDictionary()


def memory_for(model: nn.Module) -> InplaceMemory:
    if model not in _MEMORY:
        _MEMORY[model] = InplaceMemory()
    return _MEMORY[model]


class Recorder:
    """Keeps the outputs of the named modules as ``name``, ``name#2``, ``name[0]`` ... keys.

    ``memory=None`` copies every output (the safe mode for forwards we cannot re-run);
    otherwise outputs known to stay unchanged are kept by reference and watched.
    ``by_reference`` keeps every output as the very tensor the forward goes on with (no copy):
    gradients of later outputs can then be taken with respect to it.
    """

    def __init__(
        self,
        names: Sequence[str],
        *,
        stop_early: bool,
        keep_graph: bool,
        memory: InplaceMemory | None,
        by_reference: bool = False,
    ) -> None:
        self.activations: dict[str, Tensor] = {}
        self.calls: dict[str, int] = dict.fromkeys(names, 0)
        self._pending = set(names) if stop_early else None
        self._keep_graph = keep_graph
        self._memory = memory
        self._by_reference = by_reference
        # (module name, tensor as returned, its version then, kept by reference?)
        self._watch: list[tuple[str, Tensor, int, bool]] = []
        self._copies: dict[int, tuple[weakref.ref, int, Tensor]] = {}

    def record(self, name: str, output: object) -> None:
        self.calls[name] += 1
        count = self.calls[name]
        key = name if count == 1 else f"{name}#{count}"
        pending = self._pending
        last = pending is not None and pending <= {name}
        for part, tensor in flatten(key, output):
            self.activations[part] = self._keep(name, tensor, last)
        if pending is not None:
            pending.discard(name)
            if not pending:
                raise StopForward

    def _keep(self, name: str, tensor: Tensor, last: bool) -> Tensor:
        # detach() makes a new tensor object per output: skip it when there is no graph.
        kept = tensor.detach() if tensor.requires_grad and not self._keep_graph else tensor
        version = version_of(tensor)
        if last or self._by_reference:  # nothing can overwrite it any more, or the caller
            return kept  # wants the tensor the forward used
        memory = self._memory
        if memory is not None and version is not None and not memory.needs_copy(name):
            self._watch.append((name, tensor, version, True))
            return kept
        if memory is not None and version is not None:  # learning: watch the original
            self._watch.append((name, tensor, version, False))
        return self._copy(tensor, kept, version)

    def _copy(self, tensor: Tensor, kept: Tensor, version: int | None) -> Tensor:
        # A container returns its last child's tensor: share one copy instead of two.
        seen = self._copies.get(id(tensor))
        if seen is not None and seen[0]() is tensor and seen[1] == version:
            return seen[2]
        copy = kept.clone()
        if version is not None:
            self._copies[id(tensor)] = (weakref.ref(tensor), version, copy)
        return copy

    def overwritten(self) -> tuple[set[str], bool]:
        """Modules whose outputs changed after their hook, and whether a kept one did."""
        changed = {(name, ref) for name, t, v, ref in self._watch if t._version != v}
        return {name for name, _ in changed}, any(ref for _, ref in changed)

    def ran(self) -> set[str]:
        return {name for name, count in self.calls.items() if count}
