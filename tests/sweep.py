"""The stages of the model sweep (tests/test_all_models.py) and the coverage table it writes.

A plain module (imported as ``from sweep import ...``): every stage takes a built model and
asserts as it goes (:func:`explain_with_defaults`: Grad-CAM with all defaults);
:func:`cover_library_model` is the whole path for a timm or transformers
model, and :class:`Coverage` collects rows per library and writes ``docs/COVERAGE.md``.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from support import assert_model_unchanged, model_state

from featviz_widgets import layout, render
from featviz_widgets.attribution import attribute
from featviz_widgets.engine import capture, layouts, list_layers, owner_for
from featviz_widgets.optvis import MaximizeSettings, maximize
from featviz_widgets.widgets import LayerExplorer

LIBRARY_STEPS = 2  # maximize() steps per timm / transformers model, settings otherwise default


def image(side: int) -> np.ndarray:
    """A photo stand-in with structure: a bright left half, a gradient and a dark square."""
    rows, cols = np.mgrid[0:side, 0:side]
    picture = np.stack([cols * 255 // side, rows * 255 // side, np.full_like(rows, 96)], -1)
    picture[:, : side // 2] = 230
    picture[side // 4 : side // 2, side // 2 : 3 * side // 4] = 10
    return picture.astype(np.uint8)


def example(side: int) -> torch.Tensor:
    return torch.from_numpy(image(side)).permute(2, 0, 1)[None].float() / 255


def _draw(view: layout.ChannelMaps) -> np.ndarray:
    if view.kind == "vector":
        return render.vector_strip(view.maps)
    if view.kind == "video":
        return render.frames(view.maps)
    return render.grid(view.maps, cols=16, count=min(128, view.maps.shape[0]))


def render_every_layer(
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


def render_every_kernel(model: torch.nn.Module, layers) -> int:
    adapter = owner_for(model).adapter  # a module's .weight; a Keras kernel in torch's layout
    convs = [info.name for info in layers if info.is_conv]
    for name in convs:
        weight = adapter.weight(model, name)
        assert weight is not None, name
        weight = weight.detach().float().numpy()
        if weight.ndim == 5:  # Conv3d: the middle time slice (the Kernels tab draws them all)
            weight = weight[:, :, weight.shape[2] // 2]
        picture = render.kernels(weight)
        assert picture.dtype == np.uint8 and picture.ndim == 3 and min(picture.shape[:2]) > 0, name
    return len(convs)


def decode(png: bytes | None) -> np.ndarray:
    assert png is not None
    return np.asarray(Image.open(io.BytesIO(png)))


def middle_layer(
    views: list[tuple[str, layout.ChannelMaps]], hints: dict[str, str], shapes: dict[str, tuple]
) -> str:
    """A module (not a later call or a tuple part) in the middle of the forward with maps to show,
    whose channels are on the axis its layout names (what the Maximize tab asks of a layer)."""
    keys = [
        key
        for key, view in views
        if view.kind == "spatial"
        and "#" not in key
        and "[" not in key
        and shapes[key][layout.channel_axis(layout.hint_for(hints, key))] == view.maps.shape[0]
    ]
    return keys[len(keys) // 2]


def survey_and_draw(model: torch.nn.Module, side: int) -> tuple[list, list, str]:
    """list_layers, a capture of every layer that runs, a picture of each and of every kernel;
    returns the layers, the views and a middle layer to maximize."""
    layers = list_layers(model, example(side))
    ran = [info.name for info in layers if info.shapes is not None]
    acts = capture(model, example(side), ran, stop_early=False)
    assert all(any(k == n or k.startswith((f"{n}#", f"{n}[")) for k in acts) for n in ran)
    # The layouts the framework declares (Keras: channels last), else torch's inferred ones.
    hints = layouts(model, {key: tuple(t.shape) for key, t in acts.items()})
    views = render_every_layer(acts, hints)
    middle = middle_layer(views, hints, {key: tuple(t.shape) for key, t in acts.items()})
    del acts
    render_every_kernel(model, layers)
    return layers, views, middle


def explore_every_tab(
    model: torch.nn.Module, side: int, keys: list[str], middle: str, classifier: bool
) -> None:
    """Open with the size the model declares (else ``side``), switch layers, draw every tab,
    run the Maximize tab with its fewest steps and otherwise default controls."""
    declared = owner_for(model).fixed_input_size() is not None
    explorer = LayerExplorer(model, image(side), size=None if declared else side)
    try:
        assert explorer._data.input_size == (side, side), explorer._data.input_size
        for key in [*keys, middle]:
            explorer.layer = key
            explorer.channel = None
            assert explorer.error is None, (key, explorer.error)
            assert decode(explorer.tab_object("maps").png()).size > 0, key
        for title in explorer.tab_names:
            if title != "maximize":
                explorer.tab = title
                assert explorer.error is None, (title, explorer.error)
        predictions = explorer.tab_object("predictions").html.value
        assert ("not a class-score vector" not in predictions) == classifier, predictions
        run_maximize_tab(explorer)
    finally:
        explorer.close()


def run_maximize_tab(explorer: LayerExplorer) -> Any:
    """Click Run on the Maximize tab with its fewest steps; the run must end done and finite."""
    explorer.tab = "Maximize"
    tab = explorer.tab_object("maximize")
    tab.steps.value = tab.steps.min
    tab.run()
    result = explorer.tab_object("maximize").wait(600)
    assert result.steps == tab.steps.min and "done" in tab.status.value, tab.status.value
    assert all(np.isfinite(result.history)), result.history
    return result


def maximize_with_defaults(model: torch.nn.Module, layer: str) -> None:
    settings = MaximizeSettings(steps=LIBRARY_STEPS)
    result = maximize(model, (layer, 0), settings=settings)
    assert result.steps == LIBRARY_STEPS and all(np.isfinite(result.history)), result.history
    assert result.images[0].shape == (settings.size, settings.size, 3)


def explain_with_defaults(
    model: torch.nn.Module, side: int, middle: str, classifier: bool = True
) -> None:
    """Grad-CAM with every default (the top class or best detection, the layer the engine
    picks) on the sweep's picture: a finite, non-constant map at the picture's size (or all
    zero where Grad-CAM's ReLU clips evidence that random weights make negative everywhere).

    A model without class scores gets the clear error that names the fix, and so does one whose
    scores ignore the image (torchvision's ViTs initialize their head to zero: with random
    weights every class scores 0); both then explain channel 0 of ``middle`` instead. The
    caller's snapshot checks that the model is unchanged.
    """
    declared = owner_for(model).fixed_input_size() is not None
    size = None if declared else side
    expected = "not class scores" if not classifier else "does not depend on the image"
    try:
        result = attribute(model, image(side), size=size)
    except ValueError as error:
        if expected not in str(error):
            raise
        result = attribute(model, image(side), (middle, 0), size=size)
    else:
        assert classifier, "a model without class scores explained a class"
    assert result.map.shape == result.image.shape[:2] == (side, side), result.map.shape
    assert np.isfinite(result.map).all(), result.layer
    if float(result.map.max()) == float(result.map.min()):
        # Grad-CAM clips negative evidence: with random weights a class can have none anywhere
        # at the chosen layer (or no activation at all: a tiny random MobileViT's last map is
        # zero everywhere). The only constant map allowed is that zero.
        assert float(result.map.max()) == 0.0, (result.layer, "constant, non-zero map")
        assert np.isfinite(result.channels).all(), result.layer


def cover_library_model(
    model: torch.nn.Module, side: int, classifier: bool = True, warm_up: bool = False
) -> int:
    """The whole path for a timm / transformers model; returns its layer count.

    ``warm_up``: one forward of the model's own first (eval, no grad, modes put back) before the
    snapshot, for models that fill a buffer lazily on their first forward, whoever runs it.
    """
    if warm_up:
        training = {name: module.training for name, module in model.named_modules()}
        with torch.no_grad():
            model.eval()(example(side))
        for name, module in model.named_modules():
            module.training = training[name]
    before = model_state(model)
    layers, views, middle = survey_and_draw(model, side)
    explore_every_tab(model, side, [views[0][0], views[-1][0]], middle, classifier)
    maximize_with_defaults(model, middle)
    explain_with_defaults(model, side, middle, classifier)
    assert_model_unchanged(model, before)
    assert all(p.grad is None for p in model.parameters()), "a parameter got a gradient"
    return len(layers)


# --- the coverage table ----------------------------------------------------------------------


@dataclass
class Row:
    name: str
    fast: bool
    side: int
    note: str
    layers: int = 0
    seconds: float = 0.0
    result: str = "ok"


@dataclass
class Section:
    """One library's table: an intro paragraph and a row per model that ran."""

    title: str
    intro: list[str]
    rows: dict[str, Row] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)

    def run(self, row: Row, cover) -> None:
        """Time ``cover()`` (returns the layer count) into ``row``; failures are rows too."""
        start = time.perf_counter()
        try:
            row.layers = cover()
        except Exception as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            row.result = f"{type(error).__name__}: {first}"[:160].replace("|", "/")
            raise
        finally:
            row.seconds = time.perf_counter() - start
            self.rows[row.name] = row

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", *self.intro, ""]
        lines += ["| model | fast | layers | input px | seconds | result | note |"]
        lines += ["|---|---|---:|---:|---:|---|---|"]
        for row in sorted(self.rows.values(), key=lambda r: r.name):
            fast = "yes" if row.fast else ""
            lines.append(
                f"| {row.name} | {fast} | {row.layers} | {row.side} | {row.seconds:.1f} | "
                f"{row.result} | {row.note} |"
            )
        for name, reason in sorted(self.excluded.items()):
            lines.append(f"| {name} | | - | - | - | excluded | {reason} |")
        passed = sum(row.result == "ok" for row in self.rows.values())
        total = sum(row.seconds for row in self.rows.values())
        lines += [
            "",
            f"{passed} of {len(self.rows)} models ok, {len(self.excluded)} excluded, "
            f"{total:.0f} s in all.",
            "",
        ]
        return "\n".join(lines)


_SECTION = re.compile(r"^## (.+)$", re.MULTILINE)


def write_coverage(path: Path, header: str, sections: list[Section]) -> None:
    """Write the sections that ran; keep the file's other sections (a sweep of one library
    with ``-k timm`` leaves the torchvision table as it was)."""
    kept: dict[str, str] = {}
    if path.exists():
        text = path.read_text(encoding="utf-8")
        starts = [m.start() for m in _SECTION.finditer(text)] + [len(text)]
        for start, end in zip(starts, starts[1:], strict=False):
            title = _SECTION.match(text, start)[1]
            kept[title] = text[start:end].rstrip() + "\n"
    for section in sections:
        if section.rows:
            kept[section.title] = section.markdown()
    order = [s.title for s in sections] + [t for t in kept if t not in {s.title for s in sections}]
    body = "\n".join(kept[title] for title in order if title in kept)
    path.write_text(header.rstrip() + "\n\n" + body, encoding="utf-8")
