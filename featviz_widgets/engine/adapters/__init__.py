"""Framework adapters: how the engine lists, runs and reads one framework's models.

The owner (``owner_for(model).adapter``) picks one per model; every engine entry point
(``list_layers``, ``survey``, ``capture``, the activation-maximization forward, the receptive-field
probe, kernels, layouts, the state snapshot) asks it, so nothing outside the engine branches on the
framework.

- :class:`~.torch.TorchAdapter`: PyTorch modules (forward hooks, dotted
  ``named_modules`` names, NCHW, torch.fx graph nodes).
- :class:`~.keras.KerasAdapter`: Keras 3 models on the torch backend (Sequential, Functional,
  subclassed), named by Keras layer names (``outer/inner/conv`` inside nested models), fed
  channels-last. Keras is never imported here: a Keras model is recognized by its classes' modules,
  and the adapter imports keras only when it has such a model in hand.

Batches are featviz's channels-first ``[N, C, H, W]`` (what ``prepare_image`` returns and what
``maximize`` optimizes); an adapter moves the channels into its model's layout at the forward
(:meth:`Adapter.model_input`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from torch import Tensor, nn

from .._types import is_keras

__all__ = ["Adapter", "adapter_for"]


class Adapter(Protocol):
    """What the engine asks a framework (every method takes the model: adapters hold none).

    ``framework`` ("torch", "keras"); ``traceable``: torch.fx graph nodes are available;
    ``input_layout``: "channels_first" or "channels_last", the layout the model is fed.
    """

    framework: str
    traceable: bool
    input_layout: str

    def layers(self, model: nn.Module) -> list[Any]:
        """Every layer as ``LayerInfo`` (no forward), in registration order."""

    def names(self, model: nn.Module) -> list[str]:
        """The layer names capture accepts, in registration order."""

    def layer(self, model: nn.Module, name: str) -> Any:
        """The layer object behind ``name`` (KeyError/AttributeError when unknown)."""

    def scripted_parent(self, model: nn.Module, name: str) -> str | None:
        """The compiled (TorchScript) layer whose insides hold ``name``, or None."""

    def watch(
        self,
        model: nn.Module,
        names: Sequence[str],
        record: Callable[[str, object], None],
        *,
        prepend: bool = False,
    ) -> AbstractContextManager[None]:
        """Call ``record(name, output)`` after each named layer runs (``""``: the model itself);
        undone on exit, also when the forward raises."""

    def forward(self, model: nn.Module, x: Tensor, *, copy: bool = True) -> object:
        """Run the model in inference mode on featviz batch ``x`` (moved into its layout)."""

    def capture_direct(
        self, model: nn.Module, x: Tensor, names: Sequence[str]
    ) -> dict[str, Tensor] | None:
        """The outputs of ``names`` by the framework's own means (Keras: a multi-output model),
        or None when the generic watched forward must do it."""

    def model_input(self, model: nn.Module, x: Tensor) -> Tensor:
        """A private copy of featviz batch ``x`` on the model's device/dtype, in its layout."""

    def weight(self, model: nn.Module, name: str) -> Tensor | None:
        """The layer's weight as torch lays it out (``[out, in, kh, kw]``, Linear ``[out, in]``)."""

    def declared_layouts(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, str] | None:
        """Layout hints the framework fixes for these outputs, or None: infer them by the rules."""

    def preserved_state(self, model: nn.Module) -> AbstractContextManager[nn.Module]:
        """Everything featviz may change, restored on exit."""

    def to_eval(self, model: nn.Module) -> None: ...
    def freeze(self, model: nn.Module) -> None: ...
    def input_channels(self, model: nn.Module) -> int | None: ...
    def input_dims(self, model: nn.Module) -> int:
        """Spatial dims of the model's input: 2 for images, 3 for clips (a Conv3d stem)."""
    def declared_input_size(self, model: nn.Module) -> tuple[int, int] | None: ...
    def image_list_input(self, model: nn.Module) -> Any:
        """``_facts.ImageListInput`` for a model fed a list of 0..1 images that it normalizes and
        resizes itself (torchvision detection; ``forward`` then passes a list), else None."""
    def says_fixed_size(self, model: nn.Module) -> tuple[int, int] | None: ...
    def class_names(self, model: nn.Module) -> list[str] | None: ...
    def default_normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None: ...


def adapter_for(model: nn.Module) -> Adapter:
    """The adapter for ``model``'s framework (the caller has checked it is a torch module)."""
    if is_keras(model):
        from .keras import KerasAdapter

        return KerasAdapter()
    from .torch import TorchAdapter

    return TorchAdapter()
