"""What a model's output holds: class scores, detected boxes, or a per-pixel segmentation.

The one reader of output kinds, so that a widget asks "what kind of output is this" and never
inspects model classes. Read by structure (duck typing), as torchvision lays its outputs out:

- class scores: a ``[N, K]`` tensor, or the ``logits`` of a dict / ``ModelOutput``
  (:func:`~._facts.class_scores`);
- detections: a list with one dict per image holding ``boxes`` ``[B, 4]`` (x1, y1, x2, y2 in
  input pixels), ``labels`` ``[B]`` and ``scores`` ``[B]`` (Faster R-CNN, RetinaNet, FCOS, SSD;
  Mask and Keypoint R-CNN add more entries, read as the same boxes);
- segmentation: a dict whose ``out`` is ``[N, K, H, W]`` class scores per pixel (FCN, DeepLabV3,
  LR-ASPP), or a Hugging Face ``SemanticSegmenterOutput`` whose ``logits`` are (SegFormer: at a
  quarter of the input's resolution).

Examples
--------
>>> import torch
>>> output_kind(torch.zeros(1, 10)), output_kind({"out": torch.zeros(1, 3, 4, 4)})
('classes', 'segmentation')
>>> found = detections([{"boxes": torch.tensor([[0., 0, 2, 2], [1, 1, 3, 3]]),
...                      "labels": torch.tensor([5, 7]), "scores": torch.tensor([0.2, 0.9])}])
>>> found.labels.tolist(), found.scores.round(2).tolist()
([7, 5], [0.9, 0.2])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._facts import class_scores

__all__ = ["Detections", "detections", "output_kind", "segmentation_scores"]


@dataclass(frozen=True)
class Detections:
    """The boxes a detection model found in one image, best score first (NumPy, CPU).

    Attributes
    ----------
    boxes : float64 ``[B, 4]``: x1, y1, x2, y2 in the pixels of the image the model was given.
    labels : int64 ``[B]`` class indices.
    scores : float64 ``[B]``.
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def detections(output: Any, image: int = 0) -> Detections | None:
    """The boxes of batch image ``image`` in a detection model's output, sorted by score (stable);
    None when ``output`` is not a list of per-image ``{"boxes", "labels", "scores"}`` dicts."""
    if isinstance(output, Tensor | Mapping | str) or not isinstance(output, Sequence):
        return None
    if not output or not all(isinstance(item, Mapping) for item in output):
        return None
    item = output[image]
    boxes, labels, scores = (item.get(key) for key in ("boxes", "labels", "scores"))
    if not all(isinstance(t, Tensor) for t in (boxes, labels, scores)):
        return None
    count = len(scores)
    if boxes.shape != (count, 4) or labels.shape != (count,) or scores.dim() != 1:
        return None
    order = torch.argsort(-scores.detach().float(), stable=True).cpu()
    return Detections(
        boxes=_numpy(boxes)[order.numpy()],
        labels=labels.detach().cpu().to(torch.int64).numpy()[order.numpy()],
        scores=_numpy(scores)[order.numpy()],
    )


def segmentation_scores(output: Any, image: int = 0) -> np.ndarray | None:
    """Per-pixel class scores ``[K, H, W]`` (float64) of batch image ``image``: the ``out`` entry of
    a torchvision segmentation model's dict, else 4-D ``logits`` (Hugging Face); None when there is
    no ``[N, K, H, W]`` one with K > 1."""
    if not isinstance(output, Mapping):
        return None
    scores = output.get("out") if "out" in output else output.get("logits")
    if isinstance(scores, Tensor) and scores.dim() == 4 and scores.shape[1] > 1:
        return _numpy(scores[image])
    return None


def output_kind(output: Any) -> str | None:
    """``"classes"``, ``"detections"``, ``"segmentation"``, or None for any other output.

    ``"classes"`` means a ``[N, K]`` class-score vector per image (K > 1).
    """
    scores = class_scores(output)
    if scores is not None and scores.dim() == 2 and scores.shape[1] > 1:
        return "classes"
    if detections(output) is not None:
        return "detections"
    if segmentation_scores(output) is not None:
        return "segmentation"
    return None


def _numpy(tensor: Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float64).numpy()
