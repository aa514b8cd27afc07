"""Models as users hand them over: wrappers unwrapped, models that cannot be explored refused.

Training code often hands over a network inside a wrapper: ``torch.compile``'s
``OptimizedModule`` (the network is ``_orig_mod``), ``nn.DataParallel`` and
``DistributedDataParallel`` (``.module``). featviz explores the network inside: its layer names
are the ones the user wrote, the compiled code is never run (every new set of hooks would
recompile the graph, seconds per layer change), and one warning per wrapper says so. Names with
the wrapper's prefix (``"module.layer1"``, ``"_orig_mod.layer1"``) are accepted too
(:func:`strip_wrapper_prefix`).

A fully scripted model (``torch.jit.script`` / ``torch.jit.load``) has no Python modules to
hook; a model with lazy modules that never ran has no parameters yet. Both get a TypeError that
says what to do instead of torch's own error from deep inside a forward.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Container

from torch import nn
from torch.jit import ScriptModule
from torch.nn.parameter import is_lazy

from ..messages import Message, MessageTypeError

__all__ = ["is_scripted", "strip_wrapper_prefix", "unwrap"]

# torch.compile's wrapper, recognized by its class name: importing torch._dynamo to name the
# class costs a second at import time.
_COMPILED = "OptimizedModule"
# The attributes wrappers keep the user's network in, as they prefix its layer names.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")

# Wrappers already announced (one warning per wrapper object) and models already checked for
# uninitialized lazy parameters (a lazy module, once run, stays initialized).
_ANNOUNCED: weakref.WeakSet[nn.Module] = weakref.WeakSet()
_INITIALIZED: weakref.WeakSet[nn.Module] = weakref.WeakSet()


def is_scripted(module: nn.Module) -> bool:
    """Whether ``module`` is TorchScript (``torch.jit.script`` / ``torch.jit.load``): it runs
    compiled code whose submodules torch does not let anyone hook."""
    return isinstance(module, ScriptModule)


def _inside(model: nn.Module) -> tuple[nn.Module, str] | None:
    """The network a wrapper holds and the attribute it is under, or None for no wrapper."""
    if type(model).__name__ == _COMPILED and isinstance(
        getattr(model, "_orig_mod", None), nn.Module
    ):
        return model._orig_mod, "_orig_mod"
    parallel = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    if isinstance(model, parallel) and isinstance(getattr(model, "module", None), nn.Module):
        return model.module, "module"
    return None


def unwrap(model: nn.Module) -> nn.Module:
    """The network featviz explores for ``model``: the module inside any wrapper, checked.

    Raises a TypeError for a fully scripted model and for uninitialized lazy modules.

    Examples
    --------
    >>> inner = nn.Sequential(nn.Linear(2, 2))
    >>> unwrap(nn.DataParallel(inner)) is inner  # and a one-line UserWarning saying so
    True
    """
    outer, steps = model, []
    found = _inside(model)
    while found is not None:
        inner, attr = found
        steps.append(attr)
        model, found = inner, _inside(inner)
    if steps and outer not in _ANNOUNCED:
        _ANNOUNCED.add(outer)
        code = "model_uncompiled" if "_orig_mod" in steps else "model_unwrapped"
        note = Message(code, wrapper=type(outer).__name__, inner=type(model).__name__,
                       path=".".join(steps))  # fmt: skip
        warnings.warn(str(note), UserWarning, stacklevel=4)
    if is_scripted(model):
        raise MessageTypeError("model_scripted", model=type(model).__name__)
    if model not in _INITIALIZED:
        _check_initialized(model)
        _INITIALIZED.add(model)
    return model


def _check_initialized(model: nn.Module) -> None:
    """TypeError naming the first lazy module whose parameters do not exist yet."""
    for name, module in model.named_modules():
        if any(is_lazy(t) for t in (*module._parameters.values(), *module._buffers.values())):
            raise MessageTypeError(
                "model_lazy", layer=name or type(model).__name__, kind=type(module).__name__
            )


def strip_wrapper_prefix(name: str, known: Container[str]) -> str:
    """``name`` without a wrapper's prefix when only the stripped name is a layer of the model.

    ``"module.layer1"`` -> ``"layer1"`` for a network that has ``layer1`` (and no module named
    ``module``): the name the user copied from a wrapped model's ``state_dict`` still works.
    Any other name comes back as it is (the caller's check reports it).

    Examples
    --------
    >>> strip_wrapper_prefix("module._orig_mod.fc", {"fc"}), strip_wrapper_prefix("x", {"fc"})
    ('fc', 'x')
    """
    stripped = name
    while stripped not in known:
        prefix = next((p for p in WRAPPER_PREFIXES if stripped.startswith(p)), None)
        if prefix is None:
            return name
        stripped = stripped[len(prefix) :]
    return stripped
