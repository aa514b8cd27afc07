"""Forward-hook recording for capture.py: naming, copy-on-need and stop-early (private)."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from torch import Tensor, nn


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


@contextmanager
def forward_hooks(
    model: nn.Module, names: Sequence[str], record: Callable[[str, object], None]
) -> Iterator[None]:
    """Call ``record(name, output)`` after each named module runs; every hook goes on exit."""
    handles = []

    def make_hook(name: str) -> Callable[[nn.Module, object, object], None]:
        def hook(module: nn.Module, args: object, output: object) -> None:
            record(name, output)

        return hook

    try:
        for name in names:
            handles.append(model.get_submodule(name).register_forward_hook(make_hook(name)))
        yield
    finally:
        for handle in handles:
            handle.remove()


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
    """

    def __init__(
        self,
        names: Sequence[str],
        *,
        stop_early: bool,
        keep_graph: bool,
        memory: InplaceMemory | None,
    ) -> None:
        self.activations: dict[str, Tensor] = {}
        self.calls: dict[str, int] = dict.fromkeys(names, 0)
        self._pending = set(names) if stop_early else None
        self._keep_graph = keep_graph
        self._memory = memory
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
        if last:  # the forward stops right here: nothing can overwrite it any more
            return kept
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
