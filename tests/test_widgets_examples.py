"""The Examples tab without a browser: run, cancel, resume, the on-disk cache, grid order, pictures.

Every test saves results under the temp ``FEATVIZ_CACHE_DIR`` that conftest.py sets, or under its
own ``tmp_path`` where a test needs an empty cache.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support import assert_model_unchanged, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets.examples import top_examples
from featviz_widgets.examples.cache import CACHE_ENV, cache_dir, load_saved, result_file
from featviz_widgets.lab.patterns import make_patterns
from featviz_widgets.render import crop_around
from featviz_widgets.widgets import LayerExplorer
from featviz_widgets.widgets.tabs import TABS
from featviz_widgets.widgets.tabs.examples import GRID_TILE, ExamplesTab

PATTERNS = make_patterns(120, size=32, seed=3)


class _SlowCNN(nn.Module):
    """Two convolutions and a pause per forward: a run long enough to watch and cancel."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.04)
        return self.conv2(torch.relu(self.conv1(x)))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _explorer(model: nn.Module, layer: str = "conv1", dataset=PATTERNS) -> LayerExplorer:
    ex = LayerExplorer(model, PATTERNS.images[0], size=32, dataset=dataset)
    ex.layer = layer
    ex.tab = "Examples"
    return ex


def _examples(ex: LayerExplorer) -> ExamplesTab:
    return ex.tab_object("examples")  # type: ignore[return-value]


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _text(widget) -> str:
    return widget.value.replace("&#x27;", "'")


def test_the_tab_is_registered_and_shown_only_with_a_dataset(tiny_cnn: nn.Module) -> None:
    assert ExamplesTab in TABS
    ex = LayerExplorer(tiny_cnn, PATTERNS.images[0], size=32)
    try:
        with pytest.raises(ValueError, match="examples"):
            ex.tab_object("examples")  # no dataset=: no Examples tab
    finally:
        ex.close()
    ex = _explorer(tiny_cnn)
    try:
        assert ex.tab == "Examples"
        tab = _examples(ex)
        assert "press Find examples" in _text(tab.status) and "120 images" in _text(tab.status)
        assert tab.png() is None
    finally:
        ex.close()


@pytest.mark.parametrize(
    ("dataset", "error", "words"),
    [
        (Image.new("RGB", (8, 8)), TypeError, "dataset=: images is one PIL image"),
        (5, TypeError, "dataset=: cannot read images from a int"),
        ("no/such/folder", ValueError, "dataset=: images folder not found"),
        ([], ValueError, "dataset=: no images"),
    ],
)
def test_a_bad_dataset_is_refused_with_a_clear_error(tiny_cnn, dataset, error, words) -> None:
    with pytest.raises(error, match=words):
        LayerExplorer(tiny_cnn, PATTERNS.images[0], size=32, dataset=dataset)


def test_run_shows_top_images_crops_and_scores_and_leaves_the_model(cache: Path) -> None:
    model = make_tiny_cnn()
    before = model_state(model)
    ex = _explorer(model)
    try:
        tab = _examples(ex)
        tab.run()
        found = tab.wait(60)
        assert not found.partial and found.scored == len(PATTERNS) and found.layers == ["conv1"]
        assert tab.progress.value == tab.progress.max == len(PATTERNS)
        assert "120 images ranked" in _text(tab.status)
        assert list(cache_dir().glob("*-k9.npz")) and cache_dir().parent == cache
        grid = _decode(tab.image.value)  # grid mode: 8 channels, one row of 64-px crops
        assert grid.shape[0] == GRID_TILE and grid.std() > 5
        ex.channel = 2
        top, crops = _decode(tab.image.value), _decode(tab.crops.value)
        assert top.shape == crops.shape and top.std() > 5 and crops.std() > 5
        assert not np.array_equal(top, crops)
        text = _text(tab.caption)
        assert "conv1 channel 2 · top 9 of 120 images by mean" in text
        best = found.indices["conv1"][2, 0]
        assert f"#{best} {found.scores['conv1'][2, 0]:.3g}" in text
        assert "receptive field (3x3 px" in _text(tab.crops_caption)
        tab.rank.value = "max"  # the top row follows the ranking
        assert "by max" in _text(tab.caption) and not np.array_equal(_decode(tab.image.value), top)
        assert ex.save_png(cache.parent / "examples.png").read_bytes() == tab.image.value
    finally:
        ex.close()
    assert_model_unchanged(model, before)


def test_a_second_explorer_reads_the_saved_result_without_a_forward(cache: Path) -> None:
    model = make_tiny_cnn()
    first = _explorer(model)
    try:
        _examples(first).run()
        found = _examples(first).wait(60)
    finally:
        first.close()
    second = LayerExplorer(model, PATTERNS.images[5], size=32, dataset=PATTERNS)
    forwards = []
    handle = model.register_forward_pre_hook(lambda module, args: forwards.append(1))
    try:
        second.layer = "conv1"
        second.tab = "Examples"  # grid mode: drawn from the saved file, no forward
        tab = _examples(second)
        assert tab.png() is not None and "120 images ranked" in _text(tab.status)
        tab.run()  # answered by the cache file, again without a forward
        again = tab.wait(60)
    finally:
        handle.remove()
        second.close()
    assert forwards == []
    np.testing.assert_array_equal(again.indices["conv1"], found.indices["conv1"])
    np.testing.assert_array_equal(again.scores["conv1"], found.scores["conv1"])


@pytest.mark.parametrize("order", ["index", "strongest"])
def test_grid_mode_shows_one_crop_per_channel_in_the_feature_maps_order(
    cache: Path, order: str
) -> None:
    ex = _explorer(make_tiny_cnn(), layer="conv2")
    try:
        tab = _examples(ex)
        tab.run()
        found = tab.wait(60)
        ex.order, ex.columns, ex.channel = order, 4, None
        strongest = ex._data.stats("conv2").strongest
        expected = list(strongest) if order == "strongest" else list(range(16))
        assert tab.shown_channels == expected
        if order == "strongest":
            assert expected != sorted(expected)  # the two orders differ on this image
        grid = _decode(tab.image.value)
        side = tab.store.crop_side("conv2", found.map_shapes["conv2"])
        for slot, channel in enumerate(expected):  # each tile is that channel's best crop
            row, col = divmod(slot, 4)
            tile = grid[row * (GRID_TILE + 2) :][:GRID_TILE, col * (GRID_TILE + 2) :][:, :GRID_TILE]
            best = found.max_indices["conv2"][channel, 0]
            where = found.max_positions["conv2"][channel, 0]
            want = crop_around(tab.store.rgb(int(best)), where, (16, 16), side, GRID_TILE)
            np.testing.assert_array_equal(tile, want, err_msg=f"slot {slot}")
    finally:
        ex.close()


def test_cancel_keeps_a_partial_result_the_explorer_stays_usable_and_the_next_run_resumes(
    cache: Path,
) -> None:
    model = _SlowCNN()
    before = model_state(model)
    ex = _explorer(model)
    try:
        tab = _examples(ex)
        tab.batch_size = 4  # 30 batches of 40+ ms
        tab.run()
        assert tab.running and tab.cancel_button.disabled is False and tab.run_button.disabled
        deadline = time.monotonic() + 30
        while tab.progress.value < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "images/s" in _text(tab.status) and " of 120 images" in _text(tab.status)
        clicked = time.perf_counter()
        ex.layer = "conv2"  # a capture while the run goes on: waits one batch at most
        assert time.perf_counter() - clicked < 5
        ex.layer = "conv1"
        tab.cancel()
        partial = tab.wait(30)
        assert partial.partial and 0 < partial.scored < len(PATTERNS)
        assert "partial" in _text(tab.status) and not tab.run_button.disabled
        assert tab.png() is not None  # the partial ranking is shown
        tab.batch_size = 40
        tab.run()
        done = tab.wait(60)
        assert not done.partial and done.scored == len(PATTERNS)
    finally:
        ex.close()
    assert_model_unchanged(model, before)


def test_all_listed_layers_are_ranked_in_one_pass(cache: Path) -> None:
    model = make_tiny_cnn()
    ex = _explorer(model)
    try:
        tab = _examples(ex)
        tab.scope.value = "listed"
        tab.run()
        found = tab.wait(60)
        assert found.layers == ex.layers == ["conv1", "conv2"]
        ex.layer = "conv2"
        assert tab.png() is not None and "layers: conv1, conv2" in _text(tab.status)
        assert not tab.running
    finally:
        ex.close()
    reopened = _explorer(model, layer="conv2")  # found on disk under the listed layers too
    try:
        assert _examples(reopened).png() is not None
    finally:
        reopened.close()


def test_a_dataset_that_cannot_be_read_says_so_in_the_tab(cache: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    ex = _explorer(make_tiny_cnn(), dataset=[os.fspath(broken)])
    try:
        tab = _examples(ex)
        tab.run()
        with pytest.raises(ValueError, match="none of the 1 images could be loaded"):
            tab.wait(60)
        assert "examples failed: ValueError" in _text(tab.status) and not tab.running
        assert tab.png() is None
    finally:
        ex.close()


def test_the_disk_cache_reads_saved_results_back_and_passes_over_damaged_files(
    cache: Path, tiny_cnn: nn.Module
) -> None:
    assert cache_dir() == cache / "examples"
    path = result_file("ab" * 30, 5)
    assert path == cache / "examples" / f"{'ab' * 20}-k5.npz"  # the key cut to 40 characters
    assert load_saved(path) is None  # nothing saved yet
    path.parent.mkdir(parents=True)
    found = top_examples(tiny_cnn, PATTERNS.images[:6], ["conv1"], k=2, size=32, progress=False)
    found.save(path)
    again = load_saved(path)
    assert again is not None and again.image_ids == found.image_ids
    np.testing.assert_array_equal(again.indices["conv1"], found.indices["conv1"])
    path.write_bytes(b"half a file")  # damaged: passed over, the next run replaces it
    assert load_saved(path) is None
