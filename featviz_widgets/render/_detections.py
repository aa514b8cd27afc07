"""A model's predictions drawn on its photo: detections with their masks and keypoints, and a
label map brought to the photo's size.

NumPy only, built on ``_annotate``'s marks; no text is drawn (class names go in a table).

Examples
--------
>>> photo = np.zeros((20, 30, 3), np.uint8)
>>> boxes = np.array([[2.0, 3.0, 12.0, 15.0]])
>>> draw_detections(photo, boxes, np.array([[255, 0, 0]], np.uint8)).shape
(20, 30, 3)
"""

from __future__ import annotations

import numpy as np

from ._annotate import (
    COCO_PERSON_KEYPOINTS,
    COCO_PERSON_SKELETON,
    draw_boxes,
    draw_keypoints,
    fill_masks,
)

MASK_ALPHA = 0.5
MASK_THRESHOLD = 0.5  # torchvision's Mask R-CNN demos binarize its masks here


def draw_detections(
    photo: np.ndarray,
    boxes: np.ndarray,
    colors: np.ndarray,
    *,
    masks: np.ndarray | None = None,
    keypoints: np.ndarray | None = None,
    mask_threshold: float = MASK_THRESHOLD,
    alpha: float = MASK_ALPHA,
) -> np.ndarray:
    """``photo`` with each detection drawn in its colour, best (first) on top.

    Box ``i`` (``boxes[i]``: x0, y0, x1, y1 in photo pixels) is drawn in ``colors[i]``: its mask
    (``masks[i]``, probabilities at the photo's size, filled above ``mask_threshold``), its outline
    over the fill, and its keypoints (``keypoints[i]``: ``[K, 3]`` x, y, visibility) over both,
    joined by COCO's limbs for 17 person keypoints. Masks of another size are left out. Drawn worst
    first, so the best box's marks stay whole where boxes overlap.
    """
    worst_first = colors[::-1]
    picture = photo
    if masks is not None and masks.shape[1:] == photo.shape[:2]:
        picture = fill_masks(picture, masks[::-1] > mask_threshold, worst_first, alpha=alpha)
    picture = draw_boxes(picture, boxes[::-1], worst_first)
    if keypoints is not None:
        picture = draw_keypoints(
            picture, keypoints[::-1], worst_first, edges=person_skeleton(keypoints)
        )
    return picture


def person_skeleton(keypoints: np.ndarray) -> tuple[tuple[int, int], ...]:
    """COCO's person limbs for its 17 keypoints; no lines for any other keypoint set."""
    is_person = keypoints.shape[1] == len(COCO_PERSON_KEYPOINTS)
    return COCO_PERSON_SKELETON if is_person else ()


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label map to ``size`` (height, width): no label is invented
    between two others. torchvision's segmentation models answer at the input size already; a
    model that answers smaller is scaled up."""
    if labels.shape == tuple(size):
        return labels
    rows = np.arange(size[0]) * labels.shape[0] // size[0]
    cols = np.arange(size[1]) * labels.shape[1] // size[1]
    return labels[rows[:, None], cols[None, :]]
