"""PyTorch modules: dotted ``named_modules`` names, forward hooks (``_recorder``), NCHW, torch.fx."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from torch import Tensor, nn
from torch.nn.modules.conv import _ConvNd

from .. import _facts
from .._recorder import forward_hooks
from .._state import input_channels, model_device, model_dtype, preserved_state
from .._types import LayerInfo
from .._wrappers import is_scripted

__all__ = ["TorchAdapter"]


def _hookable(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Named submodules (the root excluded) in registration order; a TorchScript submodule is one
    opaque layer: its own output is recorded, its insides (compiled code) are not listed."""
    found: list[tuple[str, nn.Module]] = []
    scripted: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(outer + ".") for outer in scripted):
            continue
        found.append((name, module))
        if is_scripted(module):
            scripted.append(name)
    return found


class TorchAdapter:
    """Any ``nn.Module`` (see :class:`~featviz_widgets.engine.adapters.Adapter`)."""

    framework = "torch"
    traceable = True
    input_layout = "channels_first"

    def layers(self, model: nn.Module) -> list[Any]:
        return [
            LayerInfo(
                name=name,
                type=type(module).__name__,
                num_params=sum(p.numel() for p in module.parameters()),
                shapes=None,
                is_conv=isinstance(module, _ConvNd),
                calls=0,
            )
            for name, module in _hookable(model)
        ]

    def names(self, model: nn.Module) -> list[str]:
        return [name for name, _ in _hookable(model)]

    def scripted_parent(self, model: nn.Module, name: str) -> str | None:
        """The TorchScript submodule ``name`` lies inside (its insides are not layers), or None."""
        parts = name.split(".")
        for depth in range(1, len(parts)):
            outer = ".".join(parts[:depth])
            try:
                if is_scripted(model.get_submodule(outer)):
                    return outer
            except AttributeError:
                return None
        return None

    def layer(self, model: nn.Module, name: str) -> nn.Module:
        return model.get_submodule(name)

    def watch(
        self,
        model: nn.Module,
        names: Sequence[str],
        record: Callable[[str, object], None],
        *,
        prepend: bool = False,
    ) -> AbstractContextManager[None]:
        return forward_hooks(model, names, record, prepend=prepend)

    def forward(self, model: nn.Module, x: Tensor, *, copy: bool = True) -> object:
        x = self.model_input(model, x) if copy else x
        if _facts.image_list_input(model) is not None:  # torchvision detection: a list of images
            return model(list(x.unbind(0)))  # unbind keeps the autograd graph (maximize)
        return model(x)

    def capture_direct(
        self, model: nn.Module, x: Tensor, names: Sequence[str]
    ) -> dict[str, Tensor] | None:
        return None  # hooks are the direct way

    def model_input(self, model: nn.Module, x: Tensor) -> Tensor:
        device = model_device(model)
        if x.is_floating_point():
            return x.to(device=device, dtype=model_dtype(model), copy=True)
        return x.to(device=device, copy=True)

    def weight(self, model: nn.Module, name: str) -> Tensor | None:
        weight = getattr(model.get_submodule(name), "weight", None)
        return weight if isinstance(weight, Tensor) and weight.dim() >= 2 else None

    def declared_layouts(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, str] | None:
        return None  # NCHW by default, other layouts inferred by layout.layout_hints' rules

    def preserved_state(self, model: nn.Module) -> AbstractContextManager[nn.Module]:
        return preserved_state(model)

    def to_eval(self, model: nn.Module) -> None:
        """Eval mode, touching the modules only when one is training (``__setattr__`` is slow)."""
        if any(module.training for module in model.modules()):
            model.eval()

    def freeze(self, model: nn.Module) -> None:
        """Eval mode and no parameter gradients (restored by the owner's snapshot)."""
        self.to_eval(model)
        for param in model.parameters():
            if param.requires_grad:
                param.requires_grad_(False)

    def input_channels(self, model: nn.Module) -> int | None:
        return input_channels(model)

    def input_dims(self, model: nn.Module) -> int:
        """The first convolution's kernel rank: 3 (Conv3d) for video models, else 2."""
        for module in model.modules():
            if isinstance(module, _ConvNd):
                return 3 if len(module.kernel_size) == 3 else 2
        return 2

    def declared_input_size(self, model: nn.Module) -> tuple[int, int] | None:
        return _facts.declared_input_size(model)

    def image_list_input(self, model: nn.Module) -> _facts.ImageListInput | None:
        return _facts.image_list_input(model)

    def says_fixed_size(self, model: nn.Module) -> tuple[int, int] | None:
        return _facts.says_fixed_size(model)

    def class_names(self, model: nn.Module) -> list[str] | None:
        return _facts.class_names(model)

    def default_normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        return None  # ImageNet's mean/std (inputs.IMAGENET_MEAN / IMAGENET_STD)
