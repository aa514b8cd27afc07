"""Model facts and state keeping: the model-type check, state snapshot/restore, device, dtype."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd

from ._types import is_keras
from ._wrappers import unwrap


def check_model(model: object) -> nn.Module:
    """The network to explore for ``model``, else a TypeError that says what to pass.

    ``model`` itself for a plain ``nn.Module``; the network inside ``torch.compile``'s,
    ``DataParallel``'s or ``DistributedDataParallel``'s wrapper (:func:`~._wrappers.unwrap`).
    Fully scripted models and lazy modules that never ran are refused with the fix.
    """
    if is_keras(model) and not isinstance(model, nn.Module):
        raise TypeError(
            f"{type(model).__name__} is a Keras model on another backend than PyTorch; featviz "
            "runs Keras on torch: set os.environ['KERAS_BACKEND'] = 'torch' before keras is "
            "first imported (a fresh Python process), then build the model again"
        )
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}; pass the network "
            "itself (e.g. torchvision.models.resnet18()), not its state_dict or output"
        )
    return unwrap(model)


@contextmanager
def preserved_state(model: nn.Module) -> Iterator[nn.Module]:
    """Restore every module's ``training`` flag and every parameter's ``requires_grad`` and
    ``.grad`` on exit.

    The restore runs on exceptions too, so code inside may call ``model.eval()`` or
    ``requires_grad_(False)`` freely.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    >>> with preserved_state(net):
    ...     _ = net.eval()
    >>> net.training
    True
    """
    check_model(model)
    # Flags are saved per module: model.train(flag) would flatten a deliberately mixed state.
    training = [(module, module.training) for module in model.modules()]
    grads = [(param, param.requires_grad, param.grad) for param in model.parameters()]
    try:
        yield model
    finally:
        # Only touch what changed: nn.Module.__setattr__ is slow on a 300-module model.
        for module, flag in training:
            if module.training != flag:
                module.training = flag
        for param, flag, grad in grads:
            if param.requires_grad != flag:
                param.requires_grad_(flag)
            if param.grad is not grad:
                param.grad = grad


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU for a stateless model.

    Examples
    --------
    >>> model_device(nn.Linear(2, 2))
    device(type='cpu')
    """
    check_model(model)
    for tensor in chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating-point parameter (or buffer).

    Falls back to ``torch.get_default_dtype()`` for a model without floating-point state.

    Examples
    --------
    >>> model_dtype(nn.Linear(2, 2).half())
    torch.float16
    """
    check_model(model)
    for tensor in chain(model.parameters(), model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def input_channels(model: nn.Module) -> int | None:
    """``in_channels`` of the model's first convolution (registration order), or None.

    Examples
    --------
    >>> input_channels(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()))
    1
    """
    check_model(model)
    for module in model.modules():
        if isinstance(module, _ConvNd):
            return int(module.in_channels)
    return None
