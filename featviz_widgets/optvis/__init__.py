"""Activation maximization: images that make a channel, neuron or class of a CNN fire.

Small composable pieces in the Lucid style: ``params`` (image parametrizations), ``transforms``
(robustness transforms), ``objectives`` (what to maximize) and ``maximize`` (the loop); ``targets``
holds the receptive-field rule (which layer is worth maximizing).

Examples
--------
>>> from featviz_widgets.optvis import maximize, MaximizeSettings
>>> result = maximize(model, ("features.3", 5), settings=MaximizeSettings(steps=64))
>>> result.images[0].shape
(128, 128, 3)
"""

from __future__ import annotations

from . import objectives, params, targets, transforms
from .objectives import Objective
from .optimize import PRESETS, MaximizeResult, MaximizeSettings, maximize

__all__ = [
    "PRESETS",
    "MaximizeResult",
    "MaximizeSettings",
    "Objective",
    "maximize",
    "objectives",
    "params",
    "targets",
    "transforms",
]
