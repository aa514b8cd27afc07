"""The detection and segmentation rows of the model sweep (tests/test_all_models.py).

A plain module (``from sweep_detection import ...``), like ``sweep``: every builder of
``torchvision.models.detection`` and ``torchvision.models.segmentation`` with random weights goes
through the sweep's stages (``list_layers``, one capture of every layer, a picture of each and of
every kernel), then an explorer with every tab drawn, Predictions showing boxes or a mask and the
Maximize tab run; ``maximize()`` for 2 steps with default settings on a backbone layer; the model
unchanged. Without ``FEATVIZ_SWEEP=full`` only the ``FAST_*`` models run (``tests/test_detection.py``
covers one model of each family in depth either way).
"""

from __future__ import annotations

import os

import torch
import torchvision
from support import assert_model_unchanged, model_state
from sweep import (
    Row,
    Section,
    decode,
    explain_with_defaults,
    image,
    maximize_with_defaults,
    run_maximize_tab,
    survey_and_draw,
)

from featviz_widgets.engine import owner_for
from featviz_widgets.widgets import LayerExplorer

DETECTION_BUILDERS = torchvision.models.list_models(module=torchvision.models.detection)
SEGMENTATION_BUILDERS = torchvision.models.list_models(module=torchvision.models.segmentation)
FAST_DETECTION = ("fasterrcnn_mobilenet_v3_large_320_fpn",)
FAST_SEGMENTATION = ("lraspp_mobilenet_v3_large",)
FULL = os.environ.get("FEATVIZ_SWEEP") == "full"
DETECTION_MODELS = DETECTION_BUILDERS if FULL else list(FAST_DETECTION)
SEGMENTATION_MODELS = SEGMENTATION_BUILDERS if FULL else list(FAST_SEGMENTATION)

DETECTION_SIDE = 160  # min_size = max_size: the side the model's transform resizes to
SEGMENTATION_SIDE = 128
_RANDOM = {"weights": None, "weights_backbone": None}

DETECTION_SECTION = Section(
    "Detection",
    [
        "Every builder of `torchvision.models.detection`, `weights=None, weights_backbone=None`, "
        "score thresholds at 0 (random weights score under every default one), "
        f"`min_size = max_size = {DETECTION_SIDE}` where the builder takes them (SSD300 and "
        "SSDlite resize to their fixed 300 / 320 px). The model is fed a list of unnormalized "
        "images (its `transform` normalizes them): `list_layers`, one capture of every layer "
        "(boxes, labels and scores included), a picture of every layer and every kernel, a "
        "`LayerExplorer` with every tab drawn, Predictions showing boxes and the Maximize tab "
        "run, `maximize()` for 2 steps on a backbone layer, Grad-CAM with all defaults (the "
        "best detection's score: a finite, non-constant map at the picture's size), then the "
        "model unchanged.",
    ],
)
SEGMENTATION_SECTION = Section(
    "Segmentation",
    [
        "Every builder of `torchvision.models.segmentation`, `weights=None, "
        f"weights_backbone=None`, {SEGMENTATION_SIDE} px: the same path as detection, "
        "Predictions showing the predicted mask (the argmax of `out`) over the photo; Grad-CAM "
        "explains the class predicted on most pixels.",
    ],
)


def detection_row(name: str) -> Row:
    side = _fixed_side(name) or DETECTION_SIDE
    note = f"fixed {side} px (its transform's size)" if _fixed_side(name) else ""
    return Row(name, name in FAST_DETECTION, side, note)


def segmentation_row(name: str) -> Row:
    return Row(name, name in FAST_SEGMENTATION, SEGMENTATION_SIDE, "")


def _fixed_side(name: str) -> int | None:
    return {"ssd300_vgg16": 300, "ssdlite320_mobilenet_v3_large": 320}.get(name)


def build_detection(name: str) -> torch.nn.Module:
    kwargs = dict(_RANDOM)
    if name.startswith("ssd"):
        kwargs["score_thresh"] = 0.0
    elif name.startswith(("retinanet", "fcos")):
        kwargs.update(score_thresh=0.0, min_size=DETECTION_SIDE, max_size=DETECTION_SIDE)
    else:  # the R-CNN family
        kwargs.update(box_score_thresh=0.0, min_size=DETECTION_SIDE, max_size=DETECTION_SIDE)
    torch.manual_seed(0)
    return torchvision.models.get_model(name, **kwargs)


def build_segmentation(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.get_model(name, **_RANDOM)


def cover_detection(name: str) -> int:
    return _cover(build_detection(name), detection_row(name).side, "detections")


def cover_segmentation(name: str) -> int:
    return _cover(build_segmentation(name), SEGMENTATION_SIDE, "segmentation")


def _cover(model: torch.nn.Module, side: int, kind: str) -> int:
    """The whole path for one model; returns its layer count."""
    before = model_state(model)
    layers, views, _ = survey_and_draw(model, side)
    backbone = _backbone_layer(views)
    _explore(model, side, [views[0][0], views[-1][0], backbone], kind)
    maximize_with_defaults(model, backbone)
    explain_with_defaults(model, side, backbone)  # the best detection, or the top class's pixels
    assert_model_unchanged(model, before)
    assert all(p.grad is None for p in model.parameters()), "a parameter got a gradient"
    return len(layers)


def _backbone_layer(views: list) -> str:
    """A backbone module in the middle of the forward with feature maps (the heads run on
    proposals, not on the image grid: a backbone channel is what Maximize is for)."""
    keys = [
        key
        for key, view in views
        if key.startswith("backbone.") and view.kind == "spatial" and "[" not in key
        and "#" not in key
    ]  # fmt: skip
    assert keys, "no backbone layer with feature maps"
    return keys[len(keys) // 2]


def _explore(model: torch.nn.Module, side: int, keys: list[str], kind: str) -> None:
    """Open at ``side``, switch layers, draw every tab, check Predictions, run Maximize."""
    explorer = LayerExplorer(model, image(side), size=side)
    try:
        assert owner_for(model).preferred_side() in (None, side)  # detection: its own side
        assert explorer._data.input_size == (side, side), explorer._data.input_size
        explorer.filter = "all"
        for key in keys:
            explorer.layer = key
            explorer.channel = None
            assert explorer.error is None, (key, explorer.error)
            if explorer._data.view(key).kind != "none":  # scores [B]: one value per box, no map
                assert decode(explorer.tab_object("maps").png()).size > 0, key
        for title in explorer.tab_names:
            if title != "maximize":
                explorer.tab = title
                assert explorer.error is None, (title, explorer.error)
        shown = explorer.tab_object("predictions").shown
        assert shown is not None and shown.kind == kind, shown
        explorer.layer = keys[-1]
        run_maximize_tab(explorer)
    finally:
        explorer.close()
