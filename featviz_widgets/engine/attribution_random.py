"""The model-randomization copy of a sanity check: the model with its top layers re-initialized.

Adebayo et al. ("Sanity Checks for Saliency Maps", NeurIPS 2018) compare an explanation of the
trained model with the same explanation of a copy whose top layers lost what they learned: a
method whose map barely changes shows the image more than the model's reasoning. The copy is
made here, under the model's owner, so the user's model is only read, never changed.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ._state import check_model
from .owner import owner_for

__all__ = ["randomized_copy"]

# The hook tables a copy inherits from the model: emptied, so the user's hooks do not fire on
# forwards of the copy that they never asked for.
_HOOK_TABLES = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)


def randomized_copy(model: nn.Module, top_layers: int, seed: int = 0) -> tuple[nn.Module, list]:
    """A deep copy of ``model`` whose last ``top_layers`` layers with parameters are
    re-initialized by their own ``reset_parameters`` (seeded), and their names.

    "Last" is in the order the modules are defined (``named_modules``): for most networks the
    classifier first, then the layers before it. The copy has no hooks; buffers of the
    re-initialized layers (batch-norm statistics) are reset too. ``model`` is untouched, and the
    caller's random number generator too.

    Examples
    --------
    >>> randomized_copy(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3)), 1)[1]
    ['1']
    """
    model = check_model(model)  # the network inside a compile/DataParallel wrapper
    if isinstance(top_layers, bool) or not isinstance(top_layers, int) or top_layers < 1:
        raise ValueError(
            f"top_layers must be a positive int (how many layers to re-initialize), got "
            f"{top_layers!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    owner = owner_for(model)
    if owner.adapter.framework != "torch":
        raise ValueError(
            f"the randomization check re-initializes torch modules; a {owner.adapter.framework} "
            "model has none to reset: run it on a torch model"
        )
    with owner.using():
        try:
            twin = copy.deepcopy(model)
        except Exception as error:  # the model's own objects refused to be copied
            raise ValueError(
                f"the randomization check needs a copy of the model, and copy.deepcopy failed: "
                f"{type(error).__name__}: {error}"
            ) from error
    for module in twin.modules():
        for table in _HOOK_TABLES:
            hooks = getattr(module, table, None)
            if hooks is not None:
                hooks.clear()
    resettable = [
        name
        for name, module in twin.named_modules()
        if callable(getattr(module, "reset_parameters", None))
        and next(module.parameters(recurse=False), None) is not None
    ]
    if not resettable:
        raise ValueError(
            f"{type(model).__name__} has no layer with parameters that can be re-initialized "
            "(reset_parameters): the randomization check has nothing to randomize"
        )
    names = resettable[-top_layers:]
    device = owner.device
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), torch.no_grad():
        torch.manual_seed(seed)
        for name in names:
            twin.get_submodule(name).reset_parameters()
    return twin, names
