"""The Predictions tab's picture of a detector's output: which boxes are listed, and the instance
masks and keypoints drawn under and over them.

Hand-made outputs check the order of drawing against the renderer's own marks; Mask R-CNN and
Keypoint R-CNN (random weights, box regressions zeroed, on skimage's astronaut) show their own
masks and keypoints, compared with the model run on an input prepared without featviz code.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import skimage.data
import torch
from detection_support import RANDOM, build, decode, own_output, pixels, square
from PIL import Image
from support import assert_model_unchanged, model_state
from torchvision.models import detection

from featviz_widgets import render
from featviz_widgets.engine import detections
from featviz_widgets.widgets import LayerExplorer
from featviz_widgets.widgets.strings import text
from featviz_widgets.widgets.tabs.predictions.picture import (
    FALLBACK_BOXES,
    MIN_SCORE,
    TOP_BOXES,
    PredictionPicture,
    prediction_picture,
)


def test_confident_boxes_are_listed_up_to_ten_and_the_rest_left_out() -> None:
    """Trained weights: every box scoring at least MIN_SCORE, best first, at most TOP_BOXES;
    with none that confident, the FALLBACK_BOXES best whatever their score."""
    scores = torch.tensor([0.3, 0.95, 0.6, 0.1, *[0.7] * 10])
    boxes = torch.stack([torch.tensor([i, i, i + 10.0, i + 12.0]) for i in range(len(scores))])
    output = [{"boxes": boxes, "labels": torch.arange(len(scores)), "scores": scores}]
    data = SimpleNamespace(
        output=output,
        prepared=SimpleNamespace(display=np.zeros((40, 40, 3), np.uint8)),
        class_name=lambda index, lang: f"thing {index}",
    )
    shown = prediction_picture(data, lambda key, **values: text("en", key, **values), "en")
    assert shown.kind == "detections" and len(shown.boxes) == TOP_BOXES
    assert shown.boxes.labels.tolist() == [1, *range(4, 13)]  # 0.95, then the 0.7s in order
    assert (shown.boxes.scores >= MIN_SCORE).all() and "10 best of 14" in shown.caption
    assert [row[1] for row in shown.rows][:2] == ["thing 1", "thing 4"]
    output[0]["scores"] = scores * 0.1  # nothing confident: the best few, said so
    low = prediction_picture(data, lambda key, **values: text("en", key, **values), "en")
    assert len(low.boxes) == FALLBACK_BOXES and "no box scores 0.5" in low.caption
    output[0].update(boxes=boxes[:0], labels=torch.arange(0), scores=scores[:0])
    none = prediction_picture(data, lambda key, **values: text("en", key, **values), "en")
    assert len(none.boxes) == 0 and none.rows == [] and "no boxes" in none.caption
    assert np.array_equal(none.picture, data.prepared.display)


# -- instance masks and keypoints (Mask R-CNN, Keypoint R-CNN) --------------------------------

INSTANCE_SIDE = 320
INSTANCE = {"min_size": INSTANCE_SIDE, "max_size": INSTANCE_SIDE, "box_score_thresh": 0.0}


def _say(key: str, **values) -> str:
    return text("en", key, **values)


def test_detections_carry_masks_and_keypoints_in_score_order() -> None:
    scores = torch.tensor([0.2, 0.9, 0.5])
    masks = torch.rand(3, 1, 6, 8)
    points = torch.rand(3, 17, 3)
    item = {"boxes": torch.rand(3, 4), "labels": torch.tensor([1, 2, 3]), "scores": scores}
    found = detections([{**item, "masks": masks, "keypoints": points}])
    order = [1, 2, 0]
    assert found.masks.dtype == np.float32 and found.masks.shape == (3, 6, 8)
    np.testing.assert_array_equal(found.masks, masks[order, 0].numpy())
    np.testing.assert_allclose(found.keypoints, points[order].numpy())
    best = found.take(np.array([0]))
    assert best.labels.tolist() == [2] and best.masks.shape == (1, 6, 8)
    assert best.keypoints.shape == (1, 17, 3)
    plain = detections([item])
    assert plain.masks is None and plain.keypoints is None and plain.take([1]).masks is None
    # Entries of another shape are not read as masks or keypoints; the boxes still are.
    odd = detections([{**item, "masks": torch.rand(2, 1, 6, 8), "keypoints": torch.rand(3, 17)}])
    assert odd.masks is None and odd.keypoints is None and odd.labels.tolist() == [2, 3, 1]
    assert detections([{**item, "masks": masks[:, 0]}]).masks.shape == (3, 6, 8)


def test_masks_are_filled_under_the_outlines_and_keypoints_drawn_over_them() -> None:
    """Hand-made output: two boxes with masks and 17 keypoints each; the picture is the fill,
    then the outlines, then the dots and limbs, worst box first; the caption says so."""
    display = np.full((60, 80, 3), 90, np.uint8)
    masks = torch.zeros(2, 1, 60, 80)
    masks[0, 0, 10:30, 10:40] = 0.9
    masks[1, 0, 20:50, 30:70] = 0.6
    masks[1, 0, 45:50, 30:40] = 0.4  # under the threshold: not filled
    points = torch.zeros(2, 17, 3)
    points[:, :, 0], points[:, :, 1], points[:, :5, 2] = 20.0, 15.0, 1.0  # 5 visible, one spot
    points[1, :, :2] += 30.0
    boxes = torch.tensor([[8.0, 8.0, 42.0, 32.0], [28.0, 18.0, 72.0, 52.0]])
    output = [{"boxes": boxes, "labels": torch.tensor([1, 2]), "scores": torch.tensor([0.9, 0.8]),
               "masks": masks, "keypoints": points}]  # fmt: skip
    data = SimpleNamespace(
        output=output,
        prepared=SimpleNamespace(display=display),
        class_name=lambda index, lang: f"thing {index}",
    )
    shown = prediction_picture(data, _say, "en")
    colors = render.distinct_colors(2)
    fill = render.fill_masks(display, (masks[[1, 0], 0] > 0.5).numpy(), colors[::-1])
    outlined = render.draw_boxes(fill, boxes[[1, 0]].numpy(), colors[::-1])
    skeleton = render.COCO_PERSON_SKELETON
    expected = render.draw_keypoints(outlined, points[[1, 0]].numpy(), colors[::-1], edges=skeleton)
    np.testing.assert_array_equal(shown.picture, expected)
    blended = np.round(0.5 * 90 + 0.5 * colors.astype(float)).astype(np.uint8)
    assert (shown.picture[20, 20] == blended[0]).all()  # mask 0 alone
    assert (shown.picture[40, 60] == blended[1]).all()  # mask 1 alone
    assert (shown.picture[47, 35] == 90).all() and (shown.picture[5, 5] == 90).all()
    assert (shown.picture[15, 20] == colors[0]).all() and (shown.picture[45, 50] == colors[1]).all()
    assert "mask (probability over 0.5)" in shown.caption
    assert "17 keypoints as dots joined by the person skeleton" in shown.caption
    output[0]["keypoints"] = points[:, :5]  # not COCO's people: dots only, no limbs
    assert "5 keypoints as dots" in prediction_picture(data, _say, "en").caption


def test_coco_person_keypoints_are_in_torchvisions_order() -> None:
    weights = detection.KeypointRCNN_ResNet50_FPN_Weights.COCO_V1
    assert tuple(weights.meta["keypoint_names"]) == render.COCO_PERSON_KEYPOINTS


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


def _instance_model(builder) -> torch.nn.Module:
    """Random weights, the box regressions (RPN and box head) zeroed: the boxes are anchors,
    tens of pixels wide, where random regressions make them slivers a mask cannot be seen in."""
    model = build(lambda: builder(**RANDOM, **INSTANCE, box_detections_per_img=10))
    with torch.no_grad():
        for layer in (model.rpn.head.bbox_pred, model.roi_heads.box_predictor.bbox_pred):
            layer.weight.zero_()
            layer.bias.zero_()
    return model


def _open_predictions(model, astronaut) -> tuple[dict, PredictionPicture, np.ndarray, np.ndarray]:
    """The model's own output on the explorer's input, the tab's picture on show, and the
    explorer's photo; the explorer closed and the model checked unchanged."""
    x = pixels(square(Image.fromarray(astronaut), INSTANCE_SIDE, INSTANCE_SIDE))
    own = own_output(model, [x])[0]
    before = model_state(model)
    ex = LayerExplorer(model, astronaut)
    try:
        torch.testing.assert_close(ex._data.prepared.batch[0], x, atol=0, rtol=0)
        ex.tab = "Predictions"
        assert ex.error is None, ex.error
        tab = ex.tab_object("predictions")
        picture, display = decode(tab.png()), ex._data.prepared.display
        shown = tab.shown
    finally:
        ex.close()
    assert_model_unchanged(model, before)
    assert picture.shape == display.shape and shown.kind == "detections"
    order = torch.argsort(-own["scores"], stable=True)
    own = {key: value[order] for key, value in own.items()}
    return own, shown, picture, display


def test_mask_rcnn_fills_its_own_masks_under_the_box_outlines(astronaut) -> None:
    model = _instance_model(detection.maskrcnn_resnet50_fpn)
    own, shown, picture, display = _open_predictions(model, astronaut)
    count = len(shown.boxes)
    np.testing.assert_allclose(shown.boxes.masks, own["masks"][:count, 0].numpy(), atol=1e-6)
    colors = render.distinct_colors(count)
    outlines = render.draw_boxes(np.zeros_like(display), own["boxes"][:count].numpy(), colors)
    free = ~outlines.any(axis=2)  # no outline drawn over the fill here
    best = own["masks"][0, 0].numpy() > 0.5
    inside = best & free
    assert inside.sum() > 100, inside.sum()  # the top detection's mask, in its colour
    blended = np.round(0.5 * display[inside] + 0.5 * colors[0].astype(float))
    assert np.abs(picture[inside].astype(int) - blended).max() <= 1
    in_no_mask = ~(own["masks"][:count, 0] > 0.5).any(0).numpy() & free
    assert np.array_equal(picture[in_no_mask], display[in_no_mask])
    assert shown.boxes.keypoints is None and "mask (probability over 0.5)" in shown.caption


def test_keypoint_rcnn_draws_its_own_keypoints_and_limbs(astronaut) -> None:
    model = _instance_model(detection.keypointrcnn_resnet50_fpn)
    own, shown, picture, display = _open_predictions(model, astronaut)
    count = len(shown.boxes)
    np.testing.assert_allclose(shown.boxes.keypoints, own["keypoints"][:count].numpy(), atol=1e-4)
    color = render.distinct_colors(count)[0]
    points = own["keypoints"][0].numpy()  # the best box's, drawn over everything else
    height, width = display.shape[:2]
    seen = 0
    for x, y, visible in points:
        if visible > 0 and 0 <= x < width and 0 <= y < height:
            assert (picture[int(y), int(x)] == color).all(), (x, y)
            seen += 1
    assert seen >= 10, points
    for a, b in render.COCO_PERSON_SKELETON:  # each limb's middle, in the same colour
        x, y = (points[a, :2] + points[b, :2]) / 2
        if 0 <= x < width and 0 <= y < height:
            assert (picture[int(y), int(x)] == color).all(), (a, b)
    assert shown.boxes.masks is None and "joined by the person skeleton" in shown.caption
