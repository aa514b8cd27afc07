"""``Capture``: the context-manager form of ``capture`` for a forward the caller runs itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ._names import resolve
from ._recorder import Recorder, StopForward
from ._state import check_model
from .owner import owner_for

__all__ = ["Capture"]


class Capture:
    """Context-manager form of :func:`capture` for a forward you run yourself.

    On entry the model goes to eval mode and forward hooks go on the requested modules
    (module names only: graph nodes need :func:`capture`); on exit the hooks go and the
    model's state comes back. Every output is copied when recorded, because this forward
    cannot be re-run if a later in-place op overwrote a kept tensor. With ``stop_early`` the
    hook ends the forward by an exception that ``__exit__`` swallows, so code after
    ``model(x)`` inside the block does not run.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    >>> with Capture(net, ["0"]) as cap, torch.no_grad():
    ...     _ = net(torch.zeros(1, 3, 8, 8))
    >>> cap.activations["0"].shape
    torch.Size([1, 4, 6, 6])
    """

    def __init__(
        self,
        model: nn.Module,
        layers: str | Sequence[str] | None = None,
        *,
        stop_early: bool = False,
        keep_graph: bool = False,
        to_cpu: bool = True,
    ) -> None:
        self.model = check_model(model)
        modules, nodes = resolve(model, layers)
        if nodes:
            raise ValueError(
                f"{nodes[0]!r} is a graph node, not a module: Capture hooks modules only; "
                "use capture(model, x, layers) for graph nodes"
            )
        self.layers = modules
        self.activations: dict[str, Tensor] = {}
        self._stop_early = stop_early and layers is not None
        self._keep_graph = keep_graph
        self._to_cpu = to_cpu
        self._exit_stack: list[Any] = []

    def __enter__(self) -> Capture:
        recorder = Recorder(
            self.layers, stop_early=self._stop_early, keep_graph=self._keep_graph, memory=None
        )
        owner = owner_for(self.model)
        state = owner.using()
        hooks = owner.adapter.watch(self.model, self.layers, recorder.record)
        state.__enter__()
        try:
            owner.adapter.to_eval(self.model)
            hooks.__enter__()
        except BaseException:
            state.__exit__(None, None, None)
            raise
        self._exit_stack = [hooks, state]
        self.activations = recorder.activations
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> bool:
        try:
            self._exit_stack[0].__exit__(None, None, None)
        finally:
            self._exit_stack[1].__exit__(None, None, None)
            self._exit_stack = []
        if self._to_cpu:
            for key, tensor in self.activations.items():
                self.activations[key] = tensor.cpu()
        return exc_type is not None and issubclass(exc_type, StopForward)
