"""Moved to :mod:`featviz_widgets.lab.tiny_cnn`; this alias keeps old notebooks working.

Import from ``featviz_widgets.lab.tiny_cnn`` (or ``featviz_widgets.lab``) in new code.
"""

from __future__ import annotations

from featviz_widgets.lab.tiny_cnn import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TinyCNN,
    TrainHistory,
    evaluate,
    standardize,
    train,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TinyCNN",
    "TrainHistory",
    "evaluate",
    "standardize",
    "train",
]
