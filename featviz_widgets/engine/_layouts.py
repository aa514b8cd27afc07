"""Layouts: how each recorded output is laid out (channels first or last, tokens, windows...).

One place merges what a framework declares (``adapter.declared_layouts``: Keras keeps its maps
channels-last) with the layout rules that read a torch model's modules (``_layout_rules``, the
rules of :func:`featviz_widgets.layout.layout_hints`). The explorer, activation maximization and
dataset examples all take their hints from :func:`layouts`, so a layer reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from .. import _layout_rules
from ._capture import Survey
from ._state import check_model
from .owner import owner_for

__all__ = ["layouts"]


def layouts(model: nn.Module, found: Survey | Mapping[str, tuple[int, ...]]) -> dict[str, str]:
    """The layout hint of each output of one forward, keyed by capture key.

    Parameters
    ----------
    model : the model the forward ran.
    found : a :func:`~featviz_widgets.engine.survey` of it, or its ``{key: shape}`` (batch axis
        included) in execution order.

    Returns
    -------
    dict[str, str]
        Capture key -> a :data:`featviz_widgets.layout.HINTS` value: the framework's declared
        layouts when it fixes them (Keras: channels last for every map), else what the layout
        rules infer from the modules and shapes. Outputs neither places are left out; look keys
        up with :func:`featviz_widgets.layout.hint_for`.

    Examples
    --------
    >>> import torch
    >>> from featviz_widgets.engine import survey
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(2), nn.Linear(36, 5))
    >>> layouts(net, survey(net, torch.zeros(1, 3, 8, 8)))["0"]
    'channels_first'
    """
    model = check_model(model)  # the network inside a compile / DataParallel wrapper
    shapes = dict(found.shapes if isinstance(found, Survey) else found)
    declared = owner_for(model).adapter.declared_layouts(shapes)
    if declared is not None:
        return declared
    return _layout_rules.infer(model, shapes)
