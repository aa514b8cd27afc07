"""The interactive picture without a browser: tile geometry against the drawn PNG, and the
browser's messages (click, back, arrows, value requests) against a real LayerExplorer."""

from __future__ import annotations

import gc
import io
import weakref

import numpy as np
import pytest
import torch
from PIL import Image
from support import make_tiny_cnn
from torch import nn

from featviz_widgets import render
from featviz_widgets.examples.cache import CACHE_ENV
from featviz_widgets.lab.patterns import make_patterns
from featviz_widgets.widgets import LayerExplorer, _picture
from featviz_widgets.widgets._picture import MAX_VALUES, Picture, Tiles, tooltip_words
from featviz_widgets.widgets.controls import widget_tree

PAD = tuple(render.PAD_COLOR)


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _inside(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boolean mask of the pixels inside any box (and a check that boxes never overlap)."""
    mask = np.zeros((height, width), dtype=np.int32)
    for x, y, w, h in boxes:
        mask[y : y + h, x : x + w] += 1
    assert mask.max() <= 1, "tiles overlap"
    return mask.astype(bool)


def _wide_model() -> nn.Module:
    """One 300-channel convolution: two grid pages of 150 channels."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 300, 3, padding=1), nn.ReLU()).eval()


def _image(side: int = 16) -> np.ndarray:
    return (np.random.default_rng(1).random((side, side, 3)) * 255).astype(np.uint8)


class Sent:
    """Captures what a Picture sends to the browser (``send`` replaced on the instance)."""

    def __init__(self, picture: Picture) -> None:
        self.messages: list[tuple[dict, list]] = []
        picture.send = lambda content, buffers=None: self.messages.append((content, buffers or []))

    @property
    def last(self) -> tuple[dict, list]:
        return self.messages[-1]


def _message(picture: Picture, **content: object) -> None:
    """What the widget's JS sends on a click, a key or a hover, delivered as the comm would."""
    picture._on_message(picture, dict(content), [])


# -- the renderer's geometry --------------------------------------------------------------
@pytest.mark.parametrize(
    ("cols", "start", "count"), [(1, 0, 5), (3, 0, None), (5, 4, 7), (8, 10, 30), (16, 0, 40)]
)
def test_tile_boxes_cover_exactly_the_tile_pixels(cols: int, start: int, count: int | None) -> None:
    maps = np.random.default_rng(0).uniform(0.25, 0.75, (40, 9, 7)).astype(np.float32)
    layout = render.grid_layout(*maps.shape, cols, start=start, count=count)
    boxes = render.tile_boxes(layout)
    # cmap=None: the float grid, NaN exactly in the separators and the empty slots
    drawn = render.grid(maps, cols, start=start, count=count, norm=None, cmap=None)
    assert drawn.shape == (layout.height, layout.width)
    inside = _inside(boxes, *drawn.shape)
    assert np.isfinite(drawn[inside]).all() and np.isnan(drawn[~inside]).all()
    for i, (x, y, w, h) in enumerate(boxes):  # tile i is channel start + i, upscaled
        expected = maps[start + i].repeat(layout.scale, 0).repeat(layout.scale, 1)
        np.testing.assert_array_equal(drawn[y : y + h, x : x + w], expected)
    png = _decode(render.grid_png(maps, cols, start=start, count=count, cmap="viridis"))
    assert (png[~inside] == PAD).all() and not (png[inside] == PAD).all(axis=-1).any()


def test_tile_boxes_follow_a_downscaled_grid() -> None:
    maps = np.random.default_rng(0).random((6, 50, 40)).astype(np.float32)
    layout = render.grid_layout(*maps.shape, 4, max_pixels=3000)  # forces box-averaging
    assert layout.step > 1
    drawn = render.grid(maps, 4, norm=None, cmap=None, max_pixels=3000)
    inside = _inside(render.tile_boxes(layout), *drawn.shape)
    assert np.isfinite(drawn[inside]).all() and np.isnan(drawn[~inside]).all()


def test_single_and_sheet_layouts_match_what_is_drawn() -> None:
    for shape, size in [((7, 7), 256), ((3, 11), 320), ((500, 300), 256)]:
        layout = render.single_layout(*shape, size)
        drawn = render.single(np.random.rand(*shape), size=size)
        assert drawn.shape[:2] == (layout.height, layout.width)
    pictures = [np.zeros((10, 14, 3), np.uint8)] * 5
    layout = render.sheet_layout(5, 10, 14, 3, 2)
    sheet = render.tile_rgb(pictures, cols=3, pad=2)
    inside = _inside(render.tile_boxes(layout), *sheet.shape[:2])
    assert (sheet[inside] == 0).all() and (sheet[~inside] == 255).all()


@pytest.mark.parametrize(("n", "wrap"), [(10, 1024), (300, 128), (2048, 1024)])
def test_strip_boxes_are_the_cells_of_the_strip(n: int, wrap: int) -> None:
    vector = np.linspace(-1.0, 1.0, n)
    strip = render.vector_strip(vector, cmap="viridis", wrap=wrap)
    boxes = render.strip_boxes(n, wrap=wrap)
    inside = _inside(boxes, *strip.shape[:2])
    assert (strip[~inside] == PAD).all()
    for x, y, w, h in boxes[:: max(1, n // 17)]:  # every cell is one flat colour
        cell = strip[y : y + h, x : x + w].reshape(-1, 3)
        assert (cell == cell[0]).all() and tuple(cell[0]) != PAD


@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [
        ((8, 3, 5, 5), {}),  # RGB tiles
        ((16, 1, 3, 3), {}),  # depthwise: grey tiles
        ((6, 8, 3, 3), {"cols": 4}),  # a row of 8 slices per output, wrapped at 4
        ((20, 40, 3, 3), {"start": 5, "count": 7}),  # a page of whole kernels
    ],
)
def test_kernel_boxes_cover_the_kernel_tiles(shape: tuple, kwargs: dict) -> None:
    weight = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    drawn = render.kernels(weight, cmap="viridis", **kwargs)
    boxes, outputs = render.kernel_boxes(shape, **kwargs)
    inside = _inside(boxes, *drawn.shape[:2])
    assert inside.any() and (drawn[~inside] == PAD).all()
    start = kwargs.get("start", 0)
    per = 1 if shape[1] in (1, 3) else shape[1]
    np.testing.assert_array_equal(outputs, start + np.arange(len(boxes)) // per)


@pytest.mark.parametrize(("shape", "pixels"), [((10, 84), 4_000_000), ((3000, 900), 100_000)])
def test_kernel_boxes_of_a_matrix_are_bands_of_rows(shape: tuple, pixels: int) -> None:
    weight = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    drawn = render.kernels(weight, max_pixels=pixels)
    boxes, outputs = render.kernel_boxes(shape, max_pixels=pixels)
    assert len(outputs) == shape[0] and outputs[-1] == shape[0] - 1
    assert (boxes[:, 0] == 0).all() and (boxes[:, 2] == drawn.shape[1]).all()
    assert (boxes[:, 1] + boxes[:, 3]).max() == drawn.shape[0]  # the last band ends the picture
    assert (np.diff(boxes[:, 1]) >= 0).all()  # row by row, top to bottom


# -- the widget on a real explorer --------------------------------------------------------
@pytest.fixture(scope="module")
def wide() -> LayerExplorer:
    ex = LayerExplorer(_wide_model(), _image(), size=16)
    yield ex
    ex.close()


@pytest.fixture
def maps_tab(wide: LayerExplorer):
    wide.tab = "Feature maps"
    wide.order, wide.page, wide.columns, wide.channel = "index", 1, 8, None
    return wide.tab_object("maps")


@pytest.mark.parametrize(("columns", "page", "order"), [(8, 1, "index"), (13, 2, "strongest")])
def test_grid_geometry_matches_the_png_and_the_order(
    wide: LayerExplorer, maps_tab, columns: int, page: int, order: str
) -> None:
    wide.columns, wide.page, wide.order = columns, page, order
    geometry, png = maps_tab.image.geometry, _decode(maps_tab.image.value)
    assert geometry["kind"] == "grid" and geometry["click"] == "select"
    assert (geometry["width"], geometry["height"]) == (png.shape[1], png.shape[0])
    maps = wide._data.view(wide.layer).maps
    ranked = wide._data.stats(wide.layer).strongest if order == "strongest" else np.arange(300)
    start = (page - 1) * 150
    assert geometry["channels"] == ranked[start : start + 150].tolist()
    assert geometry["cols"] == columns and geometry["map"] == [16, 16]
    boxes = np.array(geometry["tiles"])
    inside = _inside(boxes, *png.shape[:2])
    assert (png[~inside] == PAD).all()
    for tile in (0, 7, 149):  # the tile's pixels are its channel drawn alone
        x, y, w, h = boxes[tile]
        channel = geometry["channels"][tile]
        alone = _decode(render.grid_png(maps[[channel]], 1, cmap=wide.colormap))
        np.testing.assert_array_equal(png[y : y + h, x : x + w], alone)
        assert geometry["means"][tile] == pytest.approx(float(maps[channel].mean()), rel=1e-3)
        assert geometry["maxes"][tile] == pytest.approx(float(maps[channel].max()), rel=1e-3)


def test_values_are_sent_lazily_as_float16_of_each_tiles_map(wide: LayerExplorer, maps_tab) -> None:
    wide.order, wide.page = "strongest", 2
    picture = maps_tab.image
    sent = Sent(picture)
    version, before = picture.geometry["version"], picture.values_sent
    assert picture._pooled is None  # nothing computed until the browser asks (a hover)
    _message(picture, event="values", version=version - 1)  # a stale picture: no answer
    assert sent.messages == [] and picture.values_sent == before
    _message(picture, event="values", version=version)
    content, (payload,) = sent.last
    assert content == {"event": "values", "version": version}
    assert picture.values_sent == before + len(payload)
    values = np.frombuffer(payload, dtype=np.float16).reshape(150, 16, 16)
    assert len(payload) == picture.geometry["values_bytes"]
    maps = wide._data.view(wide.layer).maps
    channels = picture.geometry["channels"]
    np.testing.assert_allclose(values.astype(np.float32), maps[channels], rtol=1e-3, atol=1e-4)
    assert channels != sorted(channels)  # strongest first: tile i is not channel i


def test_kernel_readout_answers_with_the_value_under_the_pointer(
    wide: LayerExplorer, maps_tab
) -> None:
    picture = maps_tab.image
    picture.readout = "kernel"
    try:
        sent = Sent(picture)
        version = picture.geometry["version"]
        _message(picture, event="read", version=version, tile=9, row=4, col=11, seq=7)
        content, _ = sent.last
        channel = picture.geometry["channels"][9]
        expected = float(wide._data.view(wide.layer).maps[channel, 4, 11])
        assert content == {"event": "value", "seq": 7, "version": version, "value": expected}
        _message(picture, event="read", version=version, tile=9, row=99, col=0, seq=8)
        assert sent.last[0]["value"] is None  # outside the map
    finally:
        picture.readout = "local"
    with pytest.raises(ValueError, match="readout='browser'"):
        picture.readout = "browser"


def test_click_selects_the_tiles_channel_and_back_returns_to_the_grid(
    wide: LayerExplorer, maps_tab
) -> None:
    wide.order = "strongest"
    picture = maps_tab.image
    grid_png, tile = picture.value, 2  # the third tile of the first row
    channel = picture.geometry["channels"][tile]
    seen: list = []
    wide.observe(lambda change: seen.append(change["new"]), "channel")  # ex.observe, as users do
    _message(picture, event="pick", channel=channel, tile=tile)
    assert wide.channel == channel and wide._panel.channel.value == channel and seen == [channel]
    assert picture.value != grid_png and picture.geometry["kind"] == "map"
    assert picture.geometry["channels"] == [channel] and picture.geometry["click"] == "none"
    png = _decode(picture.value)
    assert (picture.geometry["width"], picture.geometry["height"]) == (png.shape[1], png.shape[0])
    _message(picture, event="back")  # a double-click or Escape
    assert wide.channel is None and picture.geometry["kind"] == "grid"
    assert picture.value == grid_png


def test_arrow_steps_follow_the_explorers_order_and_clamp(wide: LayerExplorer, maps_tab) -> None:
    picture = maps_tab.image
    _message(picture, event="step", by=1)  # from the grid: the first channel of the page
    assert wide.channel == 0
    _message(picture, event="step", by=-1)
    assert wide.channel == 0  # clamped at the first
    _message(picture, event="step", by=8)  # down one grid row
    assert wide.channel == 8
    _message(picture, event="step", by=1000)
    assert wide.channel == 299
    wide.order = "strongest"
    ranked = wide._data.stats(wide.layer).strongest.tolist()
    wide.channel = ranked[5]
    _message(picture, event="step", by=1)
    assert wide.channel == ranked[6]
    _message(picture, event="step", by=True)  # not a step: ignored
    assert wide.channel == ranked[6]


def test_a_png_set_directly_has_no_tiles_and_words_follow_the_language() -> None:
    picture = Picture(lang="zh")
    try:
        assert picture.words["channel"] == "通道" and "featviz-image" in picture._dom_classes
        tiles = Tiles("map", (4, 4), np.array([[0, 0, 4, 4]]), [3], click=False, cells=(2, 2))
        picture.show(b"png", tiles, lambda: np.ones((1, 2, 2), np.float32))
        assert picture.geometry["channels"] == [3] and picture.read(0, 1, 1) == 1.0
        picture.value = b"other"
        assert "tiles" not in picture.geometry and picture.read(0, 1, 1) is None
    finally:
        picture.close()
    assert tooltip_words("en") == {
        "channel": "channel", "mean": "mean", "max": "max", "value": "value",
        "sum": "sum of channels",
    }  # fmt: skip


def test_values_over_the_cap_are_box_averaged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_picture, "MAX_VALUES", 2 * 5 * 5)
    values = np.random.default_rng(0).random((2, 9, 10)).astype(np.float32)
    boxes = np.array([[0, 0, 10, 9], [11, 0, 10, 9]])
    picture = Picture()
    try:
        picture.show(b"png", Tiles("grid", (21, 9), boxes, [0, 1], cells=(9, 10)), lambda: values)
        assert picture.geometry["cells"] == [5, 5]  # a 2x2 box: ceil(9 / 2), ceil(10 / 2)
        pooled = picture.values_payload().astype(np.float32)
        assert pooled.shape == (2, 5, 5)
        np.testing.assert_allclose(pooled[1, 0, 0], values[1, :2, :2].mean(), rtol=1e-3)
        np.testing.assert_allclose(pooled[0, 4, 4], values[0, 8:, 8:].mean(), rtol=1e-3)
    finally:
        picture.close()
    assert MAX_VALUES == 2**20  # the documented cap


def test_overlay_strip_and_kernels_pick_channels() -> None:
    ex = LayerExplorer(make_tiny_cnn(), _image(32), size=32)
    try:
        ex.tab = "Overlay"
        strip = ex.tab_object("overlay").strip
        png = _decode(strip.value)
        assert (strip.geometry["width"], strip.geometry["height"]) == (png.shape[1], png.shape[0])
        top = ex._data.stats(ex.layer).strongest[:8].tolist()
        assert strip.geometry["channels"] == top
        _message(strip, event="pick", channel=top[3], tile=3)
        assert ex.channel == top[3]
        photo = ex.tab_object("overlay").image
        assert photo.geometry["channels"] == [top[3]] and photo.geometry["click"] == "none"
        ex.tab, ex.channel, ex.layer = "Kernels", None, "conv2"  # 16 outputs of 8 input slices
        kernels = ex.tab_object("kernels").image
        png = _decode(kernels.value)
        size = (kernels.geometry["width"], kernels.geometry["height"])
        assert size == (png.shape[1], png.shape[0])
        tile = 8 * 5 + 2  # a slice of output 5
        assert kernels.geometry["channels"][tile] == 5
        _message(kernels, event="pick", channel=5, tile=tile)
        assert ex.channel == 5
    finally:
        ex.close()


def test_maximize_sheet_tiles_are_the_optimized_pictures_and_pick_their_channel() -> None:
    ex = LayerExplorer(make_tiny_cnn(), _image(32), size=32)
    try:
        ex.tab, ex.layer = "Maximize", "conv2"
        tab = ex.tab_object("maximize")
        tab.steps.value, tab.size.value, tab.mode.value, tab.count.value = 4, 64, "first", 4
        tab.run()
        result = tab.wait(120)
        geometry, png = tab.image.geometry, _decode(tab.image.value)
        assert geometry["kind"] == "sheet" and geometry["channels"] == [0, 1, 2, 3]
        assert geometry["width"] <= png.shape[1] and geometry["height"] == png.shape[0]
        factor = geometry["tiles"][0][2] // 64  # the sheet is shown enlarged, pixels crisp
        for (x, y, w, h), image in zip(geometry["tiles"], result.images, strict=True):
            assert (w, h) == (64 * factor, 64 * factor)
            np.testing.assert_array_equal(png[y : y + h : factor, x : x + w : factor], image)
        _message(tab.image, event="pick", channel=2, tile=2)
        assert ex.channel == 2
    finally:
        ex.close()


def test_examples_grid_tiles_are_the_channels_crops(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    patterns = make_patterns(24, size=32, seed=3)
    ex = LayerExplorer(make_tiny_cnn(), patterns.images[0], size=32, dataset=patterns)
    try:
        ex.layer, ex.tab, ex.order, ex.columns = "conv2", "Examples", "strongest", 5
        tab = ex.tab_object("examples")
        tab.run()
        tab.wait(60)
        ex.channel = None  # redraw the grid with the result
        geometry, png = tab.image.geometry, _decode(tab.image.value)
        assert geometry["channels"] == tab.shown_channels and geometry["cols"] == 5
        assert (geometry["width"], geometry["height"]) == (png.shape[1], png.shape[0])
        inside = _inside(np.array(geometry["tiles"]), *png.shape[:2])
        assert (png[~inside] == 255).all()  # separators and empty slots are white
        channel = geometry["channels"][2]
        _message(tab.image, event="pick", channel=channel, tile=2)
        assert ex.channel == channel and tab.image.geometry["click"] == "none"
        _message(tab.image, event="back")
        assert ex.channel is None
    finally:
        ex.close()


def test_a_closed_explorer_lets_its_pictures_and_model_go() -> None:
    # anywidget ties a widget whose ESM is a file path to that file's change signal for good: the
    # pictures (and through their click handlers the explorer, its data and the model) would live
    # as long as the process. A full model sweep ran out of memory that way.
    def open_and_close() -> tuple[weakref.ref, list[weakref.ref]]:
        model = make_tiny_cnn()
        ex = LayerExplorer(model, np.zeros((32, 32, 3), np.uint8), size=32)
        for title in ("Overlay", "Kernels", "Predictions", "Layers", "Feature maps"):
            ex.tab = title  # every tab draws its picture (or table) once
        pictures = [weakref.ref(w) for w in widget_tree(ex) if isinstance(w, Picture)]
        ex.close()
        return weakref.ref(model), pictures

    model, pictures = open_and_close()
    gc.collect()
    assert len(pictures) >= 4
    assert model() is None
    assert all(picture() is None for picture in pictures)
