"""Every torchvision classification model through the whole stack, with random weights.

Per model: ``list_layers``, a capture of every layer in one forward, a picture of every layer
(``layout.to_channel_maps`` + ``render.grid`` / ``vector_strip`` / ``frames``), the kernels of every
convolution, a ``LayerExplorer`` switched through a few layers and tabs, and 3 activation-maximization
steps on one channel of a middle layer; then no hook may be left and the model must be unchanged.

Which models run: ``FEATVIZ_SWEEP=full`` runs every builder of ``torchvision.models.list_models``
(about 6 minutes wall clock on the shared 2-core machine, under 2 minutes of CPU; peak memory about
9 GB, from the 600M-parameter regnet_y_128gf / vit_h_14 plus the state snapshots); without it, the
``FAST_MODELS`` subset (one or two per family, every unusual layout included, about 40 s).
``FEATVIZ_COVERAGE_MD=docs/COVERAGE.md`` writes the table of what ran (model, layers, seconds,
result) when the module finishes; ``scripts/coverage.py`` runs the full sweep that way. Models that
cannot be covered go in ``EXCLUDED`` with the reason (listed in the table): nothing is skipped.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from support import assert_model_unchanged, model_state

from featviz_widgets import layout, render
from featviz_widgets.engine import capture, list_layers
from featviz_widgets.optvis import MaximizeSettings, maximize
from featviz_widgets.widgets import LayerExplorer

torch.set_num_threads(1)

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
MODELS = ALL_MODELS if os.environ.get("FEATVIZ_SWEEP") == "full" else list(FAST_MODELS)

RESULTS: dict[str, tuple[int, float, str]] = {}  # model -> (layers, seconds, result)


# --- the stages of one model ---------------------------------------------------------------------


def _image(side: int) -> np.ndarray:
    """A photo stand-in with structure: a bright left half, a gradient and a dark square."""
    rows, cols = np.mgrid[0:side, 0:side]
    image = np.stack([cols * 255 // side, rows * 255 // side, np.full_like(rows, 96)], -1)
    image[:, : side // 2] = 230
    image[side // 4 : side // 2, side // 2 : 3 * side // 4] = 10
    return image.astype(np.uint8)


def _draw(view: layout.ChannelMaps) -> np.ndarray:
    if view.kind == "vector":
        return render.vector_strip(view.maps)
    if view.kind == "video":
        return render.frames(view.maps)
    return render.grid(view.maps, cols=16, count=min(128, view.maps.shape[0]))


def _render_every_layer(
    acts: dict[str, torch.Tensor], hints: dict[str, str]
) -> list[tuple[str, layout.ChannelMaps]]:
    views = []
    for key, tensor in acts.items():
        assert tensor.dim() >= 1 and tensor.numel() > 0, key
        view = layout.to_channel_maps(tensor[0].float().numpy(), hint=layout.hint_for(hints, key))
        picture = _draw(view)
        assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3, key
        assert min(picture.shape[:2]) > 0, key
        views.append((key, view))
    return views


def _render_every_kernel(model: torch.nn.Module, layers) -> int:
    modules = dict(model.named_modules())
    convs = [info.name for info in layers if info.is_conv]
    for name in convs:
        picture = render.kernels(modules[name].weight.detach().float().numpy())
        assert picture.dtype == np.uint8 and picture.ndim == 3 and min(picture.shape[:2]) > 0, name
    return len(convs)


def _decode(png: bytes | None) -> np.ndarray:
    assert png is not None
    return np.asarray(Image.open(io.BytesIO(png)))


def _explore(model: torch.nn.Module, side: int, keys: list[str], channels: int) -> None:
    """Switch through ``keys``; the last one must offer ``channels`` channels (the layout's)."""
    explorer = LayerExplorer(model, _image(side), size=side)
    try:
        for key in keys:
            explorer.layer = key
            explorer.channel = None
            assert explorer.error is None, (key, explorer.error)
            assert _decode(explorer.tabs["Feature maps"].png()).size > 0, key
        explorer.channel = channels - 1
        assert _decode(explorer.tabs["Feature maps"].png()).size > 0
        explorer.tab = "Kernels"
        explorer.tab = "Overlay"
        assert explorer.error is None, explorer.error
    finally:
        explorer.close()


def _middle_layer(views: list[tuple[str, layout.ChannelMaps]]) -> str:
    """A module (not a later call or a tuple part) in the middle of the forward with maps to show."""
    keys = [
        key for key, view in views if view.kind == "spatial" and "#" not in key and "[" not in key
    ]
    return keys[len(keys) // 2]


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
    example = torch.from_numpy(_image(setup.side)).permute(2, 0, 1)[None].float() / 255
    layers = list_layers(model, example)
    ran = [info.name for info in layers if info.shapes is not None]
    acts = capture(model, example, ran, stop_early=False)
    assert all(any(k == n or k.startswith((f"{n}#", f"{n}[")) for k in acts) for n in ran)
    hints = layout.layout_hints(model, acts)
    views = _render_every_layer(acts, hints)
    del acts
    _render_every_kernel(model, layers)
    middle = _middle_layer(views)
    _explore(
        model, setup.side, [views[0][0], views[-1][0], middle], dict(views)[middle].maps.shape[0]
    )
    _maximize(model, middle, setup)
    assert_model_unchanged(model, before)
    assert all(p.grad is None for p in model.parameters()), "a parameter got a gradient"
    return len(layers)


@pytest.mark.parametrize("name", MODELS)
def test_model_opens_everywhere(name: str) -> None:
    start = time.perf_counter()
    try:
        layers = _cover(name)
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        RESULTS[name] = (0, time.perf_counter() - start, f"{type(error).__name__}: {first_line}")
        raise
    RESULTS[name] = (layers, time.perf_counter() - start, "ok")


def test_every_builder_is_swept_or_excluded() -> None:
    builders = set(torchvision.models.list_models(module=torchvision.models))
    assert builders == set(ALL_MODELS) | set(EXCLUDED)
    assert set(FAST_MODELS) <= set(ALL_MODELS) and set(SETUPS) <= builders


@pytest.fixture(scope="module", autouse=True)
def _coverage_table():
    yield
    target = os.environ.get("FEATVIZ_COVERAGE_MD")
    if target and RESULTS:
        Path(target).write_text(_table(), encoding="utf-8")


def _table() -> str:
    lines = [
        "# Model coverage",
        "",
        "Every classification builder of torchvision (`list_models(module=torchvision.models)`) with",
        "random weights through `tests/test_all_models.py`: `list_layers`, one capture of every layer",
        "that runs, a picture of every layer (`layout.to_channel_maps` + `render`), the kernels of every",
        "conv, a `LayerExplorer` switched through three layers and three tabs, "
        f"{MAX_STEPS} maximization steps",
        "on channel 0 of a middle layer, then no hook left and the model bit-for-bit unchanged.",
        "",
        "Generated by `python scripts/coverage.py` (the full sweep, `FEATVIZ_SWEEP=full`); `pytest`",
        "alone runs the models marked *fast*. Seconds are wall clock per model, construction included,",
        f"on a shared 2-core CPU with one torch thread (torch {torch.__version__}, torchvision "
        f"{torchvision.__version__}).",
        "",
        "| model | fast | layers | input px | seconds | result | note |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for name, (count, seconds, result) in sorted(RESULTS.items()):
        setup = SETUPS.get(name, Setup())
        fast = "yes" if name in FAST_MODELS else ""
        row = (
            f"| {name} | {fast} | {count} | {setup.side} | {seconds:.1f} | {result} | {setup.why} |"
        )
        lines.append(row)
    for name, reason in sorted(EXCLUDED.items()):
        lines.append(f"| {name} | | - | - | - | excluded | {reason} |")
    total = sum(seconds for _, seconds, _ in RESULTS.values())
    passed = sum(result == "ok" for *_, result in RESULTS.values())
    lines += [
        "",
        f"{passed} of {len(RESULTS)} models ok, {len(EXCLUDED)} excluded, {total:.0f} s in all.",
        "",
    ]
    return "\n".join(lines)
