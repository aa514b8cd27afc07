"""Every torchvision classification model, and timm and transformers models, through the stack.

torchvision, per model: ``list_layers``, a capture of every layer in one forward, a picture of every
layer (``layout.to_channel_maps`` + ``render.grid`` / ``vector_strip`` / ``frames``), the kernels of
every convolution, a ``LayerExplorer`` switched through a few layers and tabs, and 3
activation-maximization steps on one channel of a middle layer, Grad-CAM with all defaults (a finite,
non-constant map at the picture's size: ``sweep.explain_with_defaults``); then no hook may be left
and the model must be unchanged.

timm and transformers (``tests/zoo.py``: one small member per family, random weights, tiny configs),
per model: the same survey and pictures; an explorer opened at the size the model declares (its
metadata, else the sweep's side), switched through layers, every tab drawn, the Maximize tab run
with its fewest steps; ``maximize(model, (layer, 0))`` for 2 steps with default settings otherwise
(128 px, resized to what the model takes); the model unchanged. Predictions must show classes for
every classifier (``logits`` of the ``ModelOutput``).

Keras 3 (torch backend): every builder of ``keras.applications`` (``tests/zoo.py``), random weights,
64 px where the application allows it, 10 classes, the same path as timm, plus Keras' own state
check (every variable bit-identical, ``trainable`` flags, no wrapped ``call`` left); without
``FEATVIZ_SWEEP=full`` five widely used ones (ResNet50, VGG16, MobileNetV2, EfficientNetB0,
ConvNeXtTiny).

Detection and segmentation (``tests/sweep_detection.py``): every builder of
``torchvision.models.detection`` / ``.segmentation``, random weights, the same path, Predictions
showing boxes or a mask; without ``FEATVIZ_SWEEP=full`` one of each.

Which models run: ``FEATVIZ_SWEEP=full`` runs every builder of ``torchvision.models.list_models``
(about 6 minutes wall clock on the shared 2-core machine, under 2 minutes of CPU; peak memory about
9 GB, from the 600M-parameter regnet_y_128gf / vit_h_14 plus the state snapshots) and every model of
``tests/zoo.py`` (92 timm and 23 transformers models: about 2.5 minutes more, timm ~135 s and
transformers ~15 s); without it, the ``FAST_MODELS`` subset (one or two per family, every unusual
layout included) and the zoo's ``fast`` ones, about 40 s together. ``FEATVIZ_COVERAGE_MD=docs/COVERAGE.md`` writes
the table of what ran (model, layers, seconds, result) per library when the module finishes, keeping
the sections of libraries that did not run; ``scripts/coverage.py`` runs the full sweep that way.
Models that cannot be covered go in ``EXCLUDED`` with the reason (listed in the table): nothing is
skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from support import assert_keras_unchanged, assert_model_unchanged, keras_state, model_state
from sweep import (
    Row,
    Section,
    cover_library_model,
    decode,
    explain_with_defaults,
    image,
    survey_and_draw,
    write_coverage,
)
from sweep_detection import (
    DETECTION_MODELS,
    DETECTION_SECTION,
    SEGMENTATION_MODELS,
    SEGMENTATION_SECTION,
    cover_detection,
    cover_segmentation,
    detection_row,
    segmentation_row,
)
from zoo import HF, KERAS, KERAS_APPLICATIONS, KERAS_EXCLUDED, TIMM

from featviz_widgets.optvis import MaximizeSettings, maximize
from featviz_widgets.widgets import LayerExplorer

torch.set_num_threads(1)
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # transformers models come from configs: no hub
os.environ["KERAS_BACKEND"] = "torch"  # before keras is first imported, in this process

DEFAULT_SIDE = 64  # every CNN here pools adaptively, so 64 px keeps the sweep fast
MAX_STEPS = 3


@dataclass(frozen=True)
class Setup:
    """How to build a model small enough for the sweep, and why it needs more than the default."""

    side: int = DEFAULT_SIDE
    kwargs: dict = field(default_factory=dict)
    why: str = ""


_VIT = "fixed input size: image_size={} ({}x{} patches)"
SETUPS: dict[str, Setup] = {
    "vit_b_16": Setup(64, {"image_size": 64}, _VIT.format(64, 4, 4)),
    "vit_b_32": Setup(64, {"image_size": 64}, _VIT.format(64, 2, 2)),
    "vit_l_16": Setup(64, {"image_size": 64}, _VIT.format(64, 4, 4)),
    "vit_l_32": Setup(64, {"image_size": 64}, _VIT.format(64, 2, 2)),
    "vit_h_14": Setup(56, {"image_size": 56}, _VIT.format(56, 4, 4)),
    "maxvit_t": Setup(224, {}, "fixed size; stages split into 7x7 partitions: 224 px minimum"),
    "inception_v3": Setup(80, {}, "needs at least 75 px"),
}

FAST_MODELS = (
    "alexnet",
    "convnext_tiny",
    "densenet121",
    "efficientnet_b0",
    "googlenet",
    "inception_v3",
    "maxvit_t",
    "mnasnet0_5",
    "mobilenet_v3_small",
    "regnet_y_400mf",
    "resnet18",
    "shufflenet_v2_x0_5",
    "squeezenet1_1",
    "swin_t",
    "swin_v2_t",
    "vgg11_bn",
    "vit_b_32",
)

# Models no test can cover, with the reason (none so far). Listed in docs/COVERAGE.md, never skipped.
EXCLUDED: dict[str, str] = {}

ALL_MODELS = [
    name
    for name in torchvision.models.list_models(module=torchvision.models)
    if name not in EXCLUDED
]
FULL = os.environ.get("FEATVIZ_SWEEP") == "full"
MODELS = ALL_MODELS if FULL else list(FAST_MODELS)
TIMM_MODELS = {case.name: case for case in TIMM if FULL or case.fast}
HF_MODELS = {case.model: case for case in HF if FULL or case.fast}
KERAS_MODELS = {case.name: case for case in KERAS if FULL or case.fast}

_WHAT = (
    "`list_layers`, one capture of every layer that runs, a picture of every layer "
    "(`layout.to_channel_maps` + `render`), the kernels of every conv, "
)
_EXPLAIN = (
    "Grad-CAM with all defaults (`attribute(model, img)`: a finite map at the picture's size, "
    "non-constant, or zero where its ReLU clips evidence that random weights make negative "
    "everywhere; a head initialized to zero, as "
    "torchvision's ViTs have, scores every image alike: its clear error, then channel 0 of the "
    "middle layer explained instead)"
)
TORCHVISION = Section(
    "torchvision",
    [
        "Every classification builder of torchvision (`list_models(module=torchvision.models)`) "
        "with random weights: " + _WHAT + "a `LayerExplorer` switched through three layers and "
        f"three tabs, {MAX_STEPS} maximization steps on channel 0 of a middle layer, "
        + _EXPLAIN
        + ", then no hook left and the model bit-for-bit unchanged.",
    ],
    excluded=EXCLUDED,
)
TIMM_SECTION = Section(
    "timm",
    [
        "One small member per timm family (`tests/zoo.py`), random weights, fixed-size families "
        "built with `img_size=64`: " + _WHAT + "a `LayerExplorer` opened at the size the model "
        "declares, switched through layers with every tab drawn and the Maximize tab run (its "
        "fewest steps), `maximize(model, (layer, 0))` for 2 steps with default settings, "
        + _EXPLAIN
        + ", then the model unchanged.",
    ],
)
HF_SECTION = Section(
    "transformers",
    [
        "Hugging Face transformers vision models built from tiny configs (`tests/zoo.py`), random "
        "weights, the same path as timm; classifiers must show their `logits` as Predictions.",
    ],
)
KERAS_SECTION = Section(
    "Keras",
    [
        "Every builder of `keras.applications` (Keras 3, `KERAS_BACKEND=torch`; `tests/zoo.py`), "
        "`weights=None`, `classes=10`, built for 64 px where the application allows it: the "
        "same path as timm, then Keras' own state check too (every variable bit-identical, "
        "BatchNorm moving statistics included; `trainable` flags; no wrapped `call` left).",
    ],
    excluded=KERAS_EXCLUDED,
)


# --- torchvision: the stages of one model --------------------------------------------------------


def _explore(model: torch.nn.Module, side: int, keys: list[str], channels: int) -> None:
    """Switch through ``keys``; the last one must offer ``channels`` channels (the layout's)."""
    explorer = LayerExplorer(model, image(side), size=side)
    try:
        for key in keys:
            explorer.layer = key
            explorer.channel = None
            assert explorer.error is None, (key, explorer.error)
            assert decode(explorer.tab_object("maps").png()).size > 0, key
        explorer.channel = channels - 1
        assert decode(explorer.tab_object("maps").png()).size > 0
        explorer.tab = "Kernels"
        explorer.tab = "Overlay"
        assert explorer.error is None, explorer.error
    finally:
        explorer.close()


def _maximize(model: torch.nn.Module, layer: str, setup: Setup) -> None:
    # (layer, 0) is channel 0 on the axis the layer's layout says (the last one for channels-last,
    # token and window outputs), and the lucid transforms end with a resize back to `side` px, so
    # fixed-size models (ViT, MaxViT) run the default preset too
    settings = MaximizeSettings(steps=MAX_STEPS, size=setup.side, preview_every=0)
    target = (layer, 0)
    result = maximize(model, target, settings=settings)
    assert result.steps == MAX_STEPS and len(result.history) == MAX_STEPS
    assert all(np.isfinite(result.history)), result.history
    assert result.images[0].shape == (setup.side, setup.side, 3)
    assert result.images[0].dtype == np.uint8


def _cover(name: str) -> int:
    setup = SETUPS.get(name, Setup())
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, **setup.kwargs)
    before = model_state(model)
    layers, views, middle = survey_and_draw(model, setup.side)
    _explore(
        model, setup.side, [views[0][0], views[-1][0], middle], dict(views)[middle].maps.shape[0]
    )
    _maximize(model, middle, setup)
    explain_with_defaults(model, setup.side, middle)
    assert_model_unchanged(model, before)
    assert all(p.grad is None for p in model.parameters()), "a parameter got a gradient"
    return len(layers)


@pytest.mark.parametrize("name", MODELS)
def test_model_opens_everywhere(name: str) -> None:
    setup = SETUPS.get(name, Setup())
    row = Row(name, name in FAST_MODELS, setup.side, setup.why)
    TORCHVISION.run(row, lambda: _cover(name))


@pytest.mark.parametrize("name", list(TIMM_MODELS))
def test_timm_model(name: str) -> None:
    import timm

    case = TIMM_MODELS[name]

    def cover() -> int:
        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False, **case.kwargs)
        return cover_library_model(model, case.side, warm_up=case.warm_up)

    TIMM_SECTION.run(Row(name, case.fast, case.side, case.why), cover)


@pytest.mark.parametrize("name", list(HF_MODELS))
def test_transformers_model(name: str) -> None:
    import transformers

    case = HF_MODELS[name]

    def cover() -> int:
        torch.manual_seed(0)
        config = getattr(transformers, case.config)(**case.kwargs)
        model = getattr(transformers, case.model)(config)
        return cover_library_model(model, case.side, case.classifier)

    HF_SECTION.run(Row(name, case.fast, case.side, case.why), cover)


@pytest.mark.parametrize("name", list(KERAS_MODELS))
def test_keras_application(name: str) -> None:
    import keras

    case = KERAS_MODELS[name]

    def cover() -> int:
        keras.utils.set_random_seed(0)
        build = getattr(keras.applications, name)
        model = build(weights=None, input_shape=(case.side, case.side, 3), classes=10)
        before = keras_state(model)
        layers = cover_library_model(model, case.side)
        assert_keras_unchanged(model, before)
        return layers

    KERAS_SECTION.run(Row(name, case.fast, case.side, case.why), cover)


@pytest.mark.parametrize("name", DETECTION_MODELS)
def test_detection_model(name: str) -> None:
    DETECTION_SECTION.run(detection_row(name), lambda: cover_detection(name))


@pytest.mark.parametrize("name", SEGMENTATION_MODELS)
def test_segmentation_model(name: str) -> None:
    SEGMENTATION_SECTION.run(segmentation_row(name), lambda: cover_segmentation(name))


def test_every_keras_application_is_swept_or_excluded() -> None:
    import keras

    builders = {n for n in dir(keras.applications) if n[:1].isupper()}
    assert builders == set(KERAS_APPLICATIONS)
    assert {case.name for case in KERAS} == builders - set(KERAS_EXCLUDED)


def test_every_builder_is_swept_or_excluded() -> None:
    builders = set(torchvision.models.list_models(module=torchvision.models))
    assert builders == set(ALL_MODELS) | set(EXCLUDED)
    assert set(FAST_MODELS) <= set(ALL_MODELS) and set(SETUPS) <= builders


def test_library_sweeps_are_as_wide_as_promised() -> None:
    assert len({case.name for case in TIMM}) == len(TIMM) >= 60
    assert len({case.model for case in HF}) == len(HF) >= 10
    assert any(case.fast for case in TIMM) and any(case.fast for case in HF)


@pytest.fixture(scope="module", autouse=True)
def _coverage_table():
    yield
    target = os.environ.get("FEATVIZ_COVERAGE_MD")
    if target:
        write_coverage(
            Path(target),
            _header(),
            [TORCHVISION, TIMM_SECTION, HF_SECTION, KERAS_SECTION]
            + [DETECTION_SECTION, SEGMENTATION_SECTION],
        )


def _header() -> str:
    import importlib.metadata as metadata

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return "\n".join(
        [
            "# Model coverage",
            "",
            "What `tests/test_all_models.py` runs, per library. Generated by",
            "`python scripts/coverage.py` (the full sweep, `FEATVIZ_SWEEP=full`; `-k timm`,",
            "`-k transformers` or `-k keras` regenerates one library's section and keeps the",
            "others); `pytest` alone runs the models marked *fast*. Seconds are wall clock per",
            "model, construction included, on a shared 2-core CPU with one torch thread (torch "
            f"{torch.__version__}, torchvision {torchvision.__version__}, timm {version('timm')}, "
            f"transformers {version('transformers')}, keras {version('keras')}).",
        ]
    )
