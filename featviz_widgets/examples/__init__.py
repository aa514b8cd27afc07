"""Dataset examples: the images of a dataset that excite each channel most.

Feature visualization has two halves: optimization (``featviz_widgets.maximize``) shows what a
channel *can* respond to; dataset examples show what it *does* respond to in real images.
:func:`top_examples` streams a folder, a list or a dataset through the model, batch by batch with
the engine's stop-early capture, and keeps a running per-channel top-k by mean and by max
(:class:`Examples`, saved as ``.npz`` + JSON). ``engine="ray"`` runs the same batches on a Ray
Data actor pool and gives the identical result.

Modules: ``top`` (the function), ``sources`` (what ``images`` may be, loading with skip-and-count),
``scoring`` (capture and per-channel mean/max), ``topk`` (the mergeable top-k), ``state`` (a
run's mergeable state), ``job`` (batch plan, progress), ``local`` and ``ray_runner`` (the engines),
``result`` (``Examples``), ``fingerprint``.

Examples
--------
>>> from torchvision.models import resnet18
>>> from featviz_widgets.examples import top_examples
>>> found = top_examples(resnet18(), "photos/", ["layer3", "layer4"], k=9)  # doctest: +SKIP
>>> found.top("layer4", 7)[:2]  # doctest: +SKIP
[('photos/cat.jpg', 3.21...), ('photos/dog.jpg', 2.87...)]
"""

from __future__ import annotations

from .ray_runner import RayEngine
from .result import Examples
from .top import top_examples

__all__ = ["Examples", "RayEngine", "top_examples"]
