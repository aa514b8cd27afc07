"""What a model's output holds: class scores, detected boxes, or a per-pixel segmentation.

The one reader of output kinds, so that a widget asks "what kind of output is this" and never
inspects model classes. Read by structure (duck typing), as torchvision lays its outputs out:

- class scores: a ``[N, K]`` tensor, or the ``logits`` of a dict / ``ModelOutput``
  (:func:`~._facts.class_scores`);
- detections: a list with one dict per image holding ``boxes`` ``[B, 4]`` (x1, y1, x2, y2 in
  input pixels), ``labels`` ``[B]`` and ``scores`` ``[B]`` (Faster R-CNN, RetinaNet, FCOS, SSD);
  Mask R-CNN adds ``masks`` ``[B, 1, H, W]`` (probabilities, pasted into the input image) and
  Keypoint R-CNN ``keypoints`` ``[B, K, 3]`` (x, y, visibility in input pixels): torchvision's
  transform maps all three back to the image it was given, so they share the boxes' pixels;
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
    masks : float32 ``[B, H, W]`` each box's instance-mask probability at every pixel of that
        image (Mask R-CNN), else None.
    keypoints : float64 ``[B, K, 3]`` each box's keypoints, x, y in the same pixels and a
        visibility (0: not visible) (Keypoint R-CNN), else None.
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    masks: np.ndarray | None = None
    keypoints: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index: np.ndarray) -> Detections:
        """The detections at ``index`` (integer positions), every field alike."""
        index = np.asarray(index, dtype=np.int64)
        return Detections(
            boxes=self.boxes[index],
            labels=self.labels[index],
            scores=self.scores[index],
            masks=None if self.masks is None else self.masks[index],
            keypoints=None if self.keypoints is None else self.keypoints[index],
        )


def detections(output: Any, image: int = 0) -> Detections | None:
    """The boxes of batch image ``image`` in a detection model's output, sorted by score (stable),
    with their masks and keypoints when the output has well-shaped ones; None when ``output`` is
    not a list of per-image ``{"boxes", "labels", "scores"}`` dicts."""
    item = _detection_item(output, image)
    if item is None:
        return None
    order = torch.argsort(-item["scores"].detach().float(), stable=True).cpu()
    masks, keypoints = _instance_masks(item), _keypoints(item)
    return Detections(
        boxes=_numpy(item["boxes"].detach().cpu()[order]),
        labels=item["labels"].detach().cpu().to(torch.int64)[order].numpy(),
        scores=_numpy(item["scores"].detach().cpu()[order]),
        masks=None if masks is None else _numpy(masks.cpu()[order], torch.float32),
        keypoints=None if keypoints is None else _numpy(keypoints.cpu()[order]),
    )


def _detection_item(output: Any, image: int) -> Mapping[str, Any] | None:
    """Batch image ``image``'s dict when ``output`` is a list of per-image detection dicts with
    well-shaped ``boxes``, ``labels`` and ``scores``; else None (nothing is copied)."""
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
    return item


def _instance_masks(item: Mapping[str, Any]) -> Tensor | None:
    """``masks`` as ``[B, H, W]`` when it is ``[B, 1, H, W]`` or ``[B, H, W]``, else None."""
    masks, count = item.get("masks"), len(item["scores"])
    if not isinstance(masks, Tensor) or len(masks) != count:
        return None
    if masks.dim() == 4 and masks.shape[1] == 1:
        return masks.detach()[:, 0]
    return masks.detach() if masks.dim() == 3 else None


def _keypoints(item: Mapping[str, Any]) -> Tensor | None:
    """``keypoints`` when it is ``[B, K, 3]`` (x, y, visibility), else None."""
    points, count = item.get("keypoints"), len(item["scores"])
    if isinstance(points, Tensor) and points.dim() == 3 and points.shape[::2] == (count, 3):
        return points.detach()
    return None


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
    if _detection_item(output, 0) is not None:
        return "detections"
    if segmentation_scores(output) is not None:
        return "segmentation"
    return None


def _numpy(tensor: Tensor, dtype: torch.dtype = torch.float64) -> np.ndarray:
    return tensor.detach().to("cpu", dtype).numpy()
