"""Teaching material: a generated pattern dataset, a tiny CNN to train on it, sample photos.

- :mod:`~featviz_widgets.lab.patterns`: :func:`make_patterns` (stripes, checkerboards, disks,
  squares) and :class:`PatternDataset`.
- :mod:`~featviz_widgets.lab.tiny_cnn`: :class:`TinyCNN`, :func:`train`, :func:`evaluate` and the
  :func:`standardize` step both share with ``prepare_image``.
- :mod:`~featviz_widgets.lab.samples`: offline sample photos and the offline ImageNet MobileNetV2.

Examples
--------
>>> from featviz_widgets.lab import TinyCNN, make_patterns, train
>>> history = train(TinyCNN(), make_patterns(700), epochs=1)  # doctest: +SKIP
"""

from __future__ import annotations

from .patterns import CLASS_NAMES, PatternDataset, make_patterns
from .samples import (
    SAMPLE_NAMES,
    astronaut,
    chelsea,
    coffee,
    grace_hopper,
    imagenet_mobilenet_v2,
    load_sample,
)
from .tiny_cnn import TinyCNN, TrainHistory, evaluate, standardize, train

__all__ = [
    "CLASS_NAMES",
    "SAMPLE_NAMES",
    "PatternDataset",
    "TinyCNN",
    "TrainHistory",
    "astronaut",
    "chelsea",
    "coffee",
    "evaluate",
    "grace_hopper",
    "imagenet_mobilenet_v2",
    "load_sample",
    "make_patterns",
    "standardize",
    "train",
]
