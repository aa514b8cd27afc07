"""The Predictions tab's picture and table for detection and segmentation outputs (no widgets).

The engine says what kind of output the model gave (``engine.output_kind``: class scores, boxes,
a per-pixel segmentation); this module turns boxes and masks into a picture and the rows of the
table beside it. The picture carries no text (class names live in the table, so no font is ever
needed for them): boxes are outlined in distinct colours, a mask is blended over the photo, and
each table row starts with its colour's swatch.

- Detections: the boxes scoring at least :data:`MIN_SCORE`, best first, at most
  :data:`TOP_BOXES`; when none does (random or untrained weights), the :data:`FALLBACK_BOXES` best
  whatever their score, and the caption says so. A box's instance mask (Mask R-CNN: probability
  above ``render.MASK_THRESHOLD``) is filled in the box's colour under its outline, its keypoints
  (Keypoint R-CNN) are dots in that colour over it, joined by the limbs for COCO's 17 person
  keypoints. Masks and keypoints come in the pixels of the image the model was given, which is the
  photo shown (as the boxes do): nothing is rescaled.
- Segmentation: the argmax over classes of the model's ``out`` (or 4-D ``logits``) at every pixel,
  blended over the photo at ``render.MASK_ALPHA``; the legend lists every class present with its share of the pixels.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from featviz_widgets import render
from featviz_widgets.engine import Detections, detections, output_kind, segmentation_scores
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets.tabs._base import Say

MIN_SCORE = 0.5  # torchvision's detection demos draw boxes from this score up
TOP_BOXES = 10
FALLBACK_BOXES = 5


@dataclass(frozen=True)
class PredictionPicture:
    """What the Predictions tab shows for boxes or a mask: a picture and a table beside it.

    Attributes
    ----------
    kind : ``"detections"`` or ``"segmentation"`` (``engine.output_kind``).
    picture : uint8 ``[H, W, 3]``, the explorer's photo with the boxes or the mask drawn on it.
    header, rows : the table (rows are HTML cells, the first one a colour swatch).
    caption : one line above the picture.
    boxes : the detections drawn, best first (box ``i`` in colour ``i``); None for a mask.
    mask : the class index of every pixel (argmax of ``out``); None for boxes.
    shares : ``(class, share of pixels)`` for every class in ``mask``, largest first.
    """

    kind: str
    picture: np.ndarray
    header: list[str]
    rows: list[list[str]]
    caption: str
    boxes: Detections | None = None
    mask: np.ndarray | None = None
    shares: list[tuple[int, float]] = field(default_factory=list)


def prediction_picture(data: ExplorerData, say: Say, lang: str) -> PredictionPicture | None:
    """The picture and table for the explorer's output when it holds boxes or a mask, else None
    (class scores and other outputs are the tab's classic table)."""
    kind = output_kind(data.output)
    found = detections(data.output) if kind == "detections" else None
    if found is not None:
        return _boxes_picture(data, found, say, lang)
    scores = segmentation_scores(data.output) if kind == "segmentation" else None
    if scores is not None:
        return _mask_picture(data, scores, say, lang)
    return None


def shown_boxes(found: Detections) -> tuple[Detections, bool]:
    """The boxes to draw (best first) and whether they are the fallback (none scored enough)."""
    keep = np.flatnonzero(found.scores >= MIN_SCORE)[:TOP_BOXES]
    fallback = len(keep) == 0
    if fallback:
        keep = np.arange(min(FALLBACK_BOXES, len(found)))
    return found.take(keep), fallback


def _boxes_picture(data: ExplorerData, found: Detections, say: Say, lang: str) -> PredictionPicture:
    boxes, fallback = shown_boxes(found)
    colors = render.distinct_colors(len(boxes))
    picture = render.draw_detections(
        data.prepared.display, boxes.boxes, colors, masks=boxes.masks, keypoints=boxes.keypoints
    )
    rows = [
        [
            _swatch(color),
            html.escape(data.class_name(int(label), lang)),
            f"{score:.3f}",
            ", ".join(f"{v:.0f}" for v in box),
        ]
        for color, label, score, box in zip(
            colors, boxes.labels, boxes.scores, boxes.boxes, strict=True
        )
    ]
    if len(found) == 0:
        caption = say("det_none")
    elif fallback:
        caption = say("det_low", threshold=MIN_SCORE, count=len(boxes), total=len(found))
    else:
        caption = say("det_top", threshold=MIN_SCORE, count=len(boxes), total=len(found))
    for note in _marks_notes(boxes, picture.shape[:2], say):
        caption = say("det_with", caption=caption, note=note)
    header = ["", say("col_class"), say("col_score"), say("col_box")]
    return PredictionPicture("detections", picture, header, rows, caption, boxes=boxes)


def _marks_notes(boxes: Detections, size: tuple[int, ...], say: Say) -> list[str]:
    """The caption's words for the masks and keypoints drawn (none when there are none)."""
    if len(boxes) == 0:
        return []
    notes = []
    if boxes.masks is not None and boxes.masks.shape[1:] == tuple(size):
        notes.append(say("det_masks", threshold=render.MASK_THRESHOLD))
    if boxes.keypoints is not None:
        key = "det_skeleton" if render.person_skeleton(boxes.keypoints) else "det_keypoints"
        notes.append(say(key, count=boxes.keypoints.shape[1]))
    return notes


def _mask_picture(data: ExplorerData, scores: np.ndarray, say: Say, lang: str) -> PredictionPicture:
    photo = data.prepared.display
    mask = render.resize_labels(np.argmax(scores, axis=0), photo.shape[:2])
    colors = render.distinct_colors(scores.shape[0])
    picture = render.label_overlay(photo, mask, colors, alpha=render.MASK_ALPHA)
    shares = render.label_shares(mask)
    rows = [
        [_swatch(colors[label]), html.escape(data.class_name(label, lang)), f"{100 * share:.1f}%"]
        for label, share in shares
    ]
    caption = say("seg_caption", classes=scores.shape[0], present=len(shares))
    header = ["", say("col_class"), say("col_pixels")]
    return PredictionPicture(
        "segmentation", picture, header, rows, caption, mask=mask, shares=shares
    )


def _swatch(color: np.ndarray) -> str:
    hex_color = "#" + "".join(f"{int(c):02x}" for c in color)
    return (
        "<span style='display:inline-block;width:14px;height:14px;border:1px solid #444;"
        f"background:{hex_color}'></span>"
    )
