"""torchvision detection and segmentation models in the engine and the explorer.

One model of each family with random weights on a real photo (grace_hopper): Faster R-CNN
(MobileNetV3 320 FPN), RetinaNet, FCOS, SSDlite; FCN, DeepLabV3, LR-ASPP. Each opens, lists its
FPN levels (detection), draws every tab, and its Predictions tab shows the model's own boxes or
mask: the test runs the model itself on an input it prepares independently (no featviz code) and
compares. Mask R-CNN and Keypoint R-CNN (on skimage's astronaut) show their own instance masks
and keypoints the same way. The model is left as it was.
"""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

import numpy as np
import pytest
import skimage.data
import torch
import transformers
from matplotlib import cbook
from PIL import Image
from support import assert_model_unchanged, hook_count, model_state
from torchvision.models import detection, segmentation
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

from featviz_widgets import render
from featviz_widgets.engine import (
    capture,
    detections,
    output_kind,
    owner_for,
    segmentation_scores,
)
from featviz_widgets.engine._facts import ImageListInput, image_list_input
from featviz_widgets.inputs import IMAGENET_MEAN, IMAGENET_STD, prepare_image, preprocessing
from featviz_widgets.optvis import MaximizeSettings, maximize
from featviz_widgets.widgets import LayerExplorer
from featviz_widgets.widgets._prediction_parts import (
    FALLBACK_BOXES,
    MIN_SCORE,
    TOP_BOXES,
    PredictionPicture,
    prediction_picture,
)
from featviz_widgets.widgets.strings import text

RANDOM = {"weights": None, "weights_backbone": None}
# Score thresholds at 0: random weights score ~1/91 per class, under every default threshold,
# and a detector that finds nothing would leave nothing to compare.
DETECTION = {
    "fasterrcnn": lambda: detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        **RANDOM, box_score_thresh=0.0
    ),
    "retinanet": lambda: detection.retinanet_resnet50_fpn(
        **RANDOM, min_size=160, max_size=160, score_thresh=0.0
    ),
    "fcos": lambda: detection.fcos_resnet50_fpn(
        **RANDOM, min_size=160, max_size=160, score_thresh=0.0
    ),
    "ssdlite": lambda: detection.ssdlite320_mobilenet_v3_large(**RANDOM),
}
# Where each detector's multi-scale feature maps come out: an OrderedDict, one entry per level.
LEVELS = {
    "fasterrcnn": ("backbone.fpn", ["'0'", "'1'", "'pool'"]),
    "retinanet": ("backbone.fpn", ["'0'", "'1'", "'2'", "'p6'", "'p7'"]),
    "fcos": ("backbone.fpn", ["'0'", "'1'", "'2'", "'p6'", "'p7'"]),
    "ssdlite": ("backbone", ["'0'", "'1'", "'2'", "'3'", "'4'", "'5'"]),
}
SEGMENTATION = {
    "fcn": lambda: segmentation.fcn_resnet50(**RANDOM, aux_loss=True),
    "deeplabv3": lambda: segmentation.deeplabv3_mobilenet_v3_large(**RANDOM),
    "lraspp": lambda: segmentation.lraspp_mobilenet_v3_large(**RANDOM),
}
SEGMENT_SIDE = 128


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    with cbook.get_sample_data("grace_hopper.jpg") as file:
        return Image.open(file).convert("RGB")


def _build(builder) -> torch.nn.Module:
    torch.manual_seed(0)
    return builder()


def _decode(png: bytes | None) -> np.ndarray:
    assert png is not None
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _own_output(model: torch.nn.Module, x) -> object:
    """The model's own eval-mode output, its train/eval flags put back exactly."""
    flags = {name: module.training for name, module in model.named_modules()}
    try:
        with torch.no_grad():
            return model.eval()(x)
    finally:
        for name, module in model.named_modules():
            module.training = flags[name]


def _square(photo: Image.Image, resize: int, side: int) -> Image.Image:
    """torchvision's recipe, written out: short side to ``resize``, centre ``side`` crop."""
    resized = F.resize(photo, [resize], interpolation=InterpolationMode.BILINEAR, antialias=True)
    return F.center_crop(resized, [side])


def _pixels(picture: Image.Image) -> torch.Tensor:
    return F.pil_to_tensor(picture).float() / 255


def _draw_every_tab(ex: LayerExplorer) -> None:
    for title in ex.tabs:
        if title != "Maximize":  # run on its own, below
            ex.tab = title
            assert ex.error is None, (title, ex.error)


# -- detection --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(DETECTION))
def test_detection_model_opens_lists_fpn_levels_and_shows_its_own_boxes(name, photo) -> None:
    model = _build(DETECTION[name])
    side = model.transform.min_size[-1]
    # What the model is meant to get: 0..1 pixels, unnormalized (it normalizes them itself).
    x = _pixels(_square(photo, side, side))
    own = _own_output(model, [x])[0]
    before = model_state(model)
    ex = LayerExplorer(model, photo)
    try:
        assert ex._data.input_size == (side, side)  # the side the model's transform resizes to
        torch.testing.assert_close(ex._data.prepared.batch[0], x, atol=0, rtol=0)
        parent, parts = LEVELS[name]
        ex.filter = "all"
        for part in parts:  # every level is a layer, drawn as feature maps (1 x 1: a strip)
            ex.layer = f"{parent}[{part}]"
            assert ex.error is None, ex.error
            height, width = ex._data.shape(ex.layer)[-2:]
            kind = "maps" if height * width > 1 else "vector"
            assert ex._data.view(ex.layer).kind == kind, ex.layer
            assert _decode(ex.tabs["Feature maps"].png()).size > 0
        ex.layer = f"{parent}[{parts[0]}]"
        _draw_every_tab(ex)
        _assert_boxes_shown(ex, own)
        _maximize_from_the_tab(ex)
    finally:
        ex.close()
    assert_model_unchanged(model, before)


def _assert_boxes_shown(ex: LayerExplorer, own: dict) -> None:
    """The tab's boxes are the model's best (its own output, score order) and drawn in colour."""
    ex.tab = "Predictions"
    tab = ex.tab_object("predictions")
    shown = tab.shown
    assert shown is not None and shown.kind == "detections" and shown.mask is None
    order = torch.argsort(-own["scores"], stable=True)
    scores = own["scores"][order].numpy()
    above = int((scores >= MIN_SCORE).sum())
    expected = min(above, TOP_BOXES) or min(FALLBACK_BOXES, len(scores))
    assert len(shown.boxes) == expected > 0
    np.testing.assert_allclose(shown.boxes.boxes, own["boxes"][order][:expected], atol=1e-3)
    np.testing.assert_array_equal(shown.boxes.labels, own["labels"][order][:expected])
    np.testing.assert_allclose(shown.boxes.scores, scores[:expected], atol=1e-5)
    picture = _decode(tab.png())
    assert picture.shape == ex._data.prepared.display.shape
    colors = render.distinct_colors(expected)
    # The best box is drawn last: its whole outline is its colour; every other box's colour is
    # on its own outline (where no better box is drawn over it).
    best = _ring(picture.shape[:2], shown.boxes.boxes[0])
    assert best.any() and (picture[best] == colors[0]).all()
    for box, color in zip(shown.boxes.boxes, colors, strict=True):
        assert (picture[_ring(picture.shape[:2], box)] == color).all(axis=1).any(), (box, color)
        assert "#" + "".join(f"{int(c):02x}" for c in color) in tab.html.value  # its swatch
    for label in shown.boxes.labels:
        assert f"class {label}" in tab.html.value
    assert str(MIN_SCORE) in tab.caption.value


def _ring(shape: tuple[int, int], box: np.ndarray) -> np.ndarray:
    """The outermost pixels of a box (x1, y1, x2, y2 in continuous pixel coordinates)."""
    left, top = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    right, bottom = min(shape[1], int(np.ceil(box[2]))), min(shape[0], int(np.ceil(box[3])))
    ring = np.zeros(shape, bool)
    ring[top:bottom, left:right] = True
    ring[top + 1 : bottom - 1, left + 1 : right - 1] = False
    return ring


def _maximize_from_the_tab(ex: LayerExplorer) -> None:
    ex.filter = "conv"
    ex.layer = ex.layers[len(ex.layers) // 3]  # a backbone convolution
    ex.tab = "Maximize"
    tab = ex.maximizer
    tab.steps.value = tab.steps.min
    tab.run()
    result = ex.wait(300)
    assert result.steps == tab.steps.min and all(np.isfinite(result.history)), tab.status.value


def test_detection_class_names_come_from_the_weights_and_do_not_change_the_input(photo) -> None:
    """``weights=`` names the COCO classes; the pixels stay unnormalized (the model's transform
    normalizes them: never twice)."""
    weights = detection.FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1
    model = _build(DETECTION["fasterrcnn"])  # random weights: the enum is only read, never loaded
    plain = prepare_image(photo, model, size=320)
    named = LayerExplorer(model, photo, weights=weights)
    try:
        torch.testing.assert_close(named._data.prepared.batch, plain.batch, atol=0, rtol=0)
        assert plain.mean == (0.0,) * 3 and plain.std == (1.0,) * 3
        named.tab = "Predictions"
        tab = named.tab_object("predictions")
        categories = weights.meta["categories"]
        for label in tab.shown.boxes.labels:
            assert f"<td>{categories[label]}</td>" in tab.html.value
        assert "no class names" not in tab.html.value
    finally:
        named.close()


def test_detection_input_is_an_image_list_the_model_normalizes_itself() -> None:
    model = _build(DETECTION["ssdlite"])
    found = image_list_input(model)
    assert found == ImageListInput(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), side=320)
    assert owner_for(model).preferred_side() == 320
    recipe = preprocessing(model, size=64)
    assert (recipe.resize, recipe.crop, recipe.mean, recipe.std) == (
        (64,),
        (64,),
        (0.0,) * 3,
        (1.0,) * 3,
    )
    assert recipe.caption() == ""  # nothing unusual: the model normalizes
    for other in (segmentation.lraspp_mobilenet_v3_large(**RANDOM), torch.nn.Conv2d(3, 4, 3)):
        assert image_list_input(other) is None
        assert preprocessing(other, size=64).mean == IMAGENET_MEAN


def test_capture_on_a_detector_stops_after_the_backbone(photo) -> None:
    """The region proposals and box heads run after the backbone: a capture of a backbone layer
    never runs them, and its value is the one a whole forward gives."""
    model = _build(DETECTION["fasterrcnn"])
    batch = prepare_image(photo, model, size=160).batch
    before = model_state(model)
    calls = []
    handle = model.rpn.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        early = capture(model, batch, ["backbone.body.3"])
        assert calls == [] and list(early) == ["backbone.body.3"]
        whole = capture(model, batch, ["backbone.body.3", "roi_heads"], stop_early=False)
        assert calls == [1]
    finally:
        handle.remove()
    torch.testing.assert_close(early["backbone.body.3"], whole["backbone.body.3"])
    # The boxes of the box head are named by the grammar: name[0][0]['boxes'].
    assert whole["roi_heads[0][0]['boxes']"].shape[1] == 4
    assert hook_count(model) == 0
    assert_model_unchanged(model, before)


def test_maximize_runs_through_the_detector_forward(photo) -> None:
    """maximize() on a backbone channel: the model's own forward on a list of images (with a
    gradient), stopped after the layer; 2 steps with default settings."""
    model = _build(DETECTION["fasterrcnn"])
    before = model_state(model)
    start = time.perf_counter()
    result = maximize(model, ("backbone.body.6", 0), settings=MaximizeSettings(steps=2))
    seconds = time.perf_counter() - start
    assert result.steps == 2 and all(np.isfinite(result.history)), result.history
    assert result.images[0].shape == (128, 128, 3)
    assert result.history[0] != result.history[1]  # the image changed between the steps
    assert seconds < 60, seconds
    assert_model_unchanged(model, before)


# -- segmentation -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SEGMENTATION))
def test_segmentation_model_shows_its_own_mask_with_a_legend(name, photo) -> None:
    model = _build(SEGMENTATION[name])
    side = SEGMENT_SIDE
    picture = _square(photo, round(side * 256 / 224), side)
    x = F.normalize(_pixels(picture), list(IMAGENET_MEAN), list(IMAGENET_STD))[None]
    out = _own_output(model, x)["out"][0]
    mask = out.argmax(0).numpy()
    before = model_state(model)
    ex = LayerExplorer(model, photo, size=side)
    try:
        _draw_every_tab(ex)
        ex.tab = "Predictions"
        tab = ex.tab_object("predictions")
        shown = tab.shown
        assert shown is not None and shown.kind == "segmentation" and shown.boxes is None
        np.testing.assert_array_equal(shown.mask, mask)
        present, counts = np.unique(mask, return_counts=True)
        assert [label for label, _ in shown.shares] == sorted(
            present.tolist(), key=lambda k: (-counts[present.tolist().index(k)], k)
        )
        colors = render.distinct_colors(out.shape[0])
        for label in present:  # the legend: every class present, its swatch and share
            assert f"<td>class {label}</td>" in tab.html.value
            assert "#" + "".join(f"{int(c):02x}" for c in colors[label]) in tab.html.value
        drawn = _decode(tab.png())
        display = np.asarray(picture)
        np.testing.assert_array_equal(drawn, render.label_overlay(display, mask, colors))
    finally:
        ex.close()
    assert_model_unchanged(model, before)


# -- what an output holds -----------------------------------------------------------------------


def test_output_kinds_are_read_by_structure() -> None:
    boxes = {"boxes": torch.zeros(2, 4), "labels": torch.tensor([1, 2]), "scores": torch.ones(2)}
    assert output_kind(torch.zeros(1, 10)) == "classes"
    assert output_kind({"logits": torch.zeros(1, 10)}) == "classes"
    assert output_kind([boxes]) == "detections"
    assert output_kind({"out": torch.zeros(1, 21, 8, 8), "aux": torch.zeros(1, 21, 8, 8)}) == (
        "segmentation"
    )
    not_boxes = [
        [],
        [{"boxes": torch.zeros(2, 5), "labels": torch.zeros(2), "scores": torch.zeros(2)}],
        [{"boxes": torch.zeros(2, 4), "labels": torch.zeros(3), "scores": torch.zeros(2)}],
        [{"boxes": torch.zeros(2, 4), "scores": torch.zeros(2)}],
        (torch.zeros(1, 4), torch.zeros(1)),
        "boxes",
    ]
    for output in not_boxes:
        assert detections(output) is None, output
        assert output_kind(output) is None, output
    assert segmentation_scores({"out": torch.zeros(1, 1, 8, 8)}) is None  # one class: no argmax
    assert segmentation_scores({"out": torch.zeros(1, 8, 8)}) is None
    assert output_kind(torch.zeros(1, 3, 8, 8)) is None


def test_classifier_predictions_stay_a_table_without_a_picture(tiny_cnn) -> None:
    ex = LayerExplorer(tiny_cnn, np.zeros((32, 32, 3), np.uint8), size=32)
    try:
        ex.tab = "Predictions"
        tab = ex.tab_object("predictions")
        assert tab.shown is None and tab.png() is None and tab.caption.value == ""
        assert "probability" in tab.html.value and "class 0" in tab.html.value
    finally:
        ex.close()


def test_predictions_of_a_detector_in_chinese_keep_the_picture_free_of_text(photo) -> None:
    """The table and caption follow ``lang``; the picture is the same boxes on the same photo
    (no text is drawn, so no font is needed for Chinese class names)."""
    model = _build(DETECTION["ssdlite"])
    pictures = {}
    for lang in ("en", "zh"):
        ex = LayerExplorer(model, photo, lang=lang, labels=[f"类别{i}" for i in range(91)])
        try:
            ex.tab = "Predictions"
            tab = ex.tab_object("predictions")
            pictures[lang] = _decode(tab.png())
            html = tab.html.value
        finally:
            ex.close()
    assert "得分" in html and "框" in html and "类别" in html
    assert np.array_equal(pictures["en"], pictures["zh"])


def test_a_hugging_face_segmenter_shows_its_logits_as_a_mask(photo) -> None:
    """SegFormer's ``logits`` ``[1, K, H/4, W/4]`` are a segmentation too: the mask is their
    argmax, scaled up to the photo nearest-neighbour (torch's ``nearest`` as the reference)."""
    config = transformers.SegformerConfig(
        num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32],
        num_attention_heads=[1, 2], decoder_hidden_size=32, num_labels=5, patch_sizes=[7, 3],
        strides=[4, 2], mlp_ratios=[2, 2],
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.SegformerForSemanticSegmentation(config)
    side = 64
    x = F.normalize(
        _pixels(_square(photo, round(side * 256 / 224), side)), IMAGENET_MEAN, IMAGENET_STD
    )
    logits = _own_output(model, x[None]).logits
    assert logits.shape[-2:] == (16, 16)
    small = logits.argmax(1, keepdim=True).float()
    mask = torch.nn.functional.interpolate(small, size=(side, side), mode="nearest")[0, 0]
    before = model_state(model)
    ex = LayerExplorer(model, photo, size=side)
    try:
        ex.tab = "Predictions"
        shown = ex.tab_object("predictions").shown
        assert shown is not None and shown.kind == "segmentation"
        np.testing.assert_array_equal(shown.mask, mask.numpy().astype(int))
    finally:
        ex.close()
    after = model_state(model)  # SegFormer carries transformers' own hooks: only those remain
    assert after.hooks == before.hooks and after.training == before.training
    assert all(torch.equal(after.tensors[k], t) for k, t in before.tensors.items())


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
    model = _build(lambda: builder(**RANDOM, **INSTANCE, box_detections_per_img=10))
    with torch.no_grad():
        for layer in (model.rpn.head.bbox_pred, model.roi_heads.box_predictor.bbox_pred):
            layer.weight.zero_()
            layer.bias.zero_()
    return model


def _open_predictions(model, astronaut) -> tuple[dict, PredictionPicture, np.ndarray, np.ndarray]:
    """The model's own output on the explorer's input, the tab's picture on show, and the
    explorer's photo; the explorer closed and the model checked unchanged."""
    x = _pixels(_square(Image.fromarray(astronaut), INSTANCE_SIDE, INSTANCE_SIDE))
    own = _own_output(model, [x])[0]
    before = model_state(model)
    ex = LayerExplorer(model, astronaut)
    try:
        torch.testing.assert_close(ex._data.prepared.batch[0], x, atol=0, rtol=0)
        ex.tab = "Predictions"
        assert ex.error is None, ex.error
        tab = ex.tab_object("predictions")
        picture, display = _decode(tab.png()), ex._data.prepared.display
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
