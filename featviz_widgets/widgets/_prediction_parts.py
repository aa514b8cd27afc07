"""The Predictions tab's plain parts for detection and segmentation outputs (no widgets).

The engine says what kind of output the model gave (``engine.output_kind``: class scores, boxes,
a per-pixel segmentation); this module turns boxes and masks into a picture and the rows of the
table beside it. The picture carries no text (class names live in the table, so no font is ever
needed for them): boxes are outlined in distinct colours, a mask is blended over the photo, and
each table row starts with its colour's swatch.

- Detections: the boxes scoring at least :data:`MIN_SCORE`, best first, at most
  :data:`TOP_BOXES`; when none does (random or untrained weights), the :data:`FALLBACK_BOXES` best
  whatever their score, and the caption says so. A box's instance mask (Mask R-CNN: probability
  above :data:`MASK_THRESHOLD`) is filled in the box's colour under its outline, its keypoints
  (Keypoint R-CNN) are dots in that colour over it, joined by the limbs for COCO's 17 person
  keypoints. Masks and keypoints come in the pixels of the image the model was given, which is the
  photo shown (as the boxes do): nothing is rescaled.
- Segmentation: the argmax over classes of the model's ``out`` (or 4-D ``logits``) at every pixel,
  blended over the photo at :data:`MASK_ALPHA`; the legend lists every class present with its share of the pixels.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from featviz_widgets import render
from featviz_widgets.engine import Detections, detections, output_kind, segmentation_scores
from featviz_widgets.widgets._data import ExplorerData

MIN_SCORE = 0.5  # torchvision's detection demos draw boxes from this score up
TOP_BOXES = 10
FALLBACK_BOXES = 5
MASK_ALPHA = 0.5
MASK_THRESHOLD = 0.5  # torchvision's Mask R-CNN demos binarize its masks here

Say = Callable[..., str]  # TabContext.text: a string of the explorer's language by key


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


def draw_detections(photo: np.ndarray, boxes: Detections, colors: np.ndarray) -> np.ndarray:
    """``photo`` with each box's mask filled (when there are masks), its outline over the fill,
    and its keypoints over both, box ``i`` in ``colors[i]``. Drawn worst first: the best box's
    marks stay whole where boxes overlap."""
    worst_first = colors[::-1]
    picture = photo
    if boxes.masks is not None and boxes.masks.shape[1:] == photo.shape[:2]:
        masks = boxes.masks[::-1] > MASK_THRESHOLD
        picture = render.fill_masks(picture, masks, worst_first, alpha=MASK_ALPHA)
    picture = render.draw_boxes(picture, boxes.boxes[::-1], worst_first)
    if boxes.keypoints is not None:
        picture = render.draw_keypoints(
            picture, boxes.keypoints[::-1], worst_first, edges=_skeleton(boxes.keypoints)
        )
    return picture


def _skeleton(keypoints: np.ndarray) -> tuple[tuple[int, int], ...]:
    """COCO's person limbs for its 17 keypoints; no lines for any other keypoint set."""
    is_person = keypoints.shape[1] == len(render.COCO_PERSON_KEYPOINTS)
    return render.COCO_PERSON_SKELETON if is_person else ()


def _boxes_picture(data: ExplorerData, found: Detections, say: Say, lang: str) -> PredictionPicture:
    boxes, fallback = shown_boxes(found)
    colors = render.distinct_colors(len(boxes))
    picture = draw_detections(data.prepared.display, boxes, colors)
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
        notes.append(say("det_masks", threshold=MASK_THRESHOLD))
    if boxes.keypoints is not None:
        key = "det_skeleton" if _skeleton(boxes.keypoints) else "det_keypoints"
        notes.append(say(key, count=boxes.keypoints.shape[1]))
    return notes


def _mask_picture(data: ExplorerData, scores: np.ndarray, say: Say, lang: str) -> PredictionPicture:
    photo = data.prepared.display
    mask = _resized(np.argmax(scores, axis=0), photo.shape[:2])
    colors = render.distinct_colors(scores.shape[0])
    picture = render.label_overlay(photo, mask, colors, alpha=MASK_ALPHA)
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


def _resized(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label map to (height, width): torchvision's segmentation
    models already answer at the input size, a model that answers smaller is scaled up."""
    if labels.shape == tuple(size):
        return labels
    rows = np.arange(size[0]) * labels.shape[0] // size[0]
    cols = np.arange(size[1]) * labels.shape[1] // size[1]
    return labels[rows[:, None], cols[None, :]]


def _swatch(color: np.ndarray) -> str:
    hex_color = "#" + "".join(f"{int(c):02x}" for c in color)
    return (
        "<span style='display:inline-block;width:14px;height:14px;border:1px solid #444;"
        f"background:{hex_color}'></span>"
    )
