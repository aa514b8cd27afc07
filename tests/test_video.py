"""Video models: clips in, frames in every tab, 3-D kernels per time slice, Maximize on clips.

Clip parsing (each accepted form, the ambiguity and mismatch errors, the caller's clip untouched),
the time-step <-> clip-frame mapping, and torchvision's six video classifiers with random weights,
each on the smallest clip it takes: opened, stepped through layers and frames, every tab drawn,
the Maximize tab run and ``maximize()`` run with default settings (2 steps), the model unchanged.
``FEATVIZ_COVERAGE_MD`` (set by ``scripts/coverage.py``) writes the "Video" table of
``docs/COVERAGE.md``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support import assert_model_unchanged, model_state
from sweep import Row, Section, decode, write_coverage
from torch import nn
from torchvision.models import video

from featviz_widgets.engine import capture, owner_for
from featviz_widgets.examples import top_examples
from featviz_widgets.inputs import load_clip, prepare_clip, prepare_image
from featviz_widgets.optvis import MaximizeSettings, maximize
from featviz_widgets.widgets import LayerExplorer
from featviz_widgets.widgets._frames import input_frame, input_span, time_maps
from featviz_widgets.widgets._views import interpret

torch.set_num_threads(1)

# (frames, side) of the smallest clip each model runs on: S3D's last pool is (2, 7, 7), so 13+
# frames at 224 px; MViT-v2's position tables fix 16 x 224 x 224; the others take 4 x 32 x 32.
SETUPS = {
    "r3d_18": (4, 32, "4x32x32"),
    "r2plus1d_18": (4, 32, "4x32x32; (2+1)D kernels"),
    "mc3_18": (4, 32, "4x32x32"),
    "swin3d_t": (4, 32, "4x32x32; channels-last stages"),
    "s3d": (16, 224, "its last pool needs 13+ frames at 224 px"),
    "mvit_v2_s": (16, 224, "fixed 16x224x224 (position tables)"),
}
VIDEO = Section(
    "Video",
    [
        "torchvision's video classifiers with random weights, each on the smallest clip it takes: "
        "`LayerExplorer(model, clip)` opened, stepped through three video layers and two frames "
        "(and the mean/sum over time), every tab drawn (Feature maps, Overlay, Kernels per time "
        "slice, Predictions, Layers), the Maximize tab run with its fewest steps and "
        "`maximize(model, (layer, 0))` for 2 steps with default settings (a clip of the fewest "
        "frames the model takes), then no hook left and the model bit-for-bit unchanged "
        "(`tests/test_video.py`).",
    ],
)


def clip_array(frames: int, side: int) -> np.ndarray:
    """A moving bright square on a gradient: every frame differs."""
    rows, cols = np.mgrid[0:side, 0:side]
    clip = np.empty((frames, side, side, 3), np.uint8)
    for t in range(frames):
        frame = np.stack([cols * 255 // side, rows * 255 // side, np.full_like(rows, 80)], -1)
        x = (t * side) // max(frames, 1) // 2
        frame[side // 4 : side // 2, x : x + side // 4] = 250
        clip[t] = frame
    return clip


def tiny_video_net(kt: int = 3) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(3, 4, (kt, 3, 3), padding=(0, 1, 1)), nn.ReLU(),
        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 5),
    ).eval()  # fmt: skip


# -- clip parsing -----------------------------------------------------------------------------


def test_every_clip_form_gives_the_same_frames(tmp_path: Path) -> None:
    clip = clip_array(3, 16)
    paths = []
    for t, frame in enumerate(clip):
        paths.append(tmp_path / f"{t}.png")
        Image.fromarray(frame).save(paths[-1])
    tensor = torch.from_numpy(clip).permute(3, 0, 1, 2)  # (C, T, H, W)
    forms = {
        "array": clip,
        "float array": clip.astype(np.float32) / 255,
        "PIL list": [Image.fromarray(f) for f in clip],
        "array list": list(clip),
        "path list": paths,
        "CTHW tensor": tensor,
        "NCTHW tensor": tensor[None],
    }
    for what, form in forms.items():
        frames = np.stack([np.asarray(f) for f in load_clip(form)])
        assert frames.shape == clip.shape, what
        assert np.abs(frames.astype(int) - clip).max() <= 1, what


def test_prepare_clip_resizes_each_frame_and_normalizes() -> None:
    clip = clip_array(4, 40)
    prepared = prepare_clip(clip, size=32)
    assert tuple(prepared.batch.shape) == (1, 3, 4, 32, 32)
    assert prepared.frames.shape == (4, 32, 32, 3) and prepared.frames.dtype == np.uint8
    assert np.array_equal(prepared.display, prepared.frames[0])
    one = prepare_image(clip[2], size=32)  # each frame is prepared like an image
    assert torch.allclose(prepared.batch[0, :, 2], one.batch[0], atol=1e-6)


def test_video_weights_give_kinetics_preprocessing() -> None:
    weights = video.R3D_18_Weights.KINETICS400_V1  # transforms() and meta: no download
    prepared = prepare_clip(clip_array(4, 150), weights=weights)
    assert tuple(prepared.batch.shape) == (1, 3, 4, 112, 112)  # VideoClassification's crop
    assert prepared.mean == pytest.approx((0.43216, 0.394666, 0.37645))
    assert prepared.std == pytest.approx((0.22803, 0.22145, 0.216989))


def test_clip_forms_that_need_clip_true_or_do_not_fit() -> None:
    net, image_net = tiny_video_net(), nn.Sequential(nn.Conv2d(3, 4, 3))
    cthw = torch.rand(3, 4, 16, 16)
    with pytest.raises(ValueError, match="ambiguous.*clip=True"):  # (T, C, H, W): no reading fits
        prepare_image(cthw.transpose(0, 1), net, size=16)
    gray = nn.Sequential(nn.Conv3d(1, 4, 3))
    with pytest.raises(ValueError, match="ambiguous.*clip=True"):  # a 1-frame clip or an image
        prepare_image(torch.rand(1, 1, 16, 16), gray, size=16)
    assert tuple(prepare_image(cthw, net, size=16, clip=True).batch.shape) == (1, 3, 4, 16, 16)
    with pytest.raises(ValueError, match=r"5 dims.*clip is for a video model.*x\[0, :, t\]"):
        prepare_image(cthw[None], image_net, size=16)
    with pytest.raises(ValueError, match=r"4 dims.*clip is for a video model"):
        prepare_image(clip_array(2, 16), image_net, size=16)
    with pytest.raises(TypeError, match="list of frames is a clip"):
        prepare_image(list(clip_array(2, 16)), image_net, size=16)
    with pytest.raises(ValueError, match="takes images.*Conv3d"):
        prepare_image(cthw, image_net, size=16, clip=True)
    with pytest.raises(ValueError, match="takes clips"):
        prepare_image(clip_array(1, 16)[0], net, size=16)
    with pytest.raises(ValueError, match=r"permute\(1, 0, 2, 3\)"):
        prepare_image(torch.rand(5, 3, 16, 16), net, size=16, clip=True)  # (T, C, H, W)
    with pytest.raises(ValueError, match="batch of 2 clips"):
        prepare_image(torch.rand(2, 3, 4, 16, 16), net, size=16)
    with pytest.raises(ValueError, match="differ in size"):
        load_clip([np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8)])
    with pytest.raises(TypeError, match="clip must be"):
        prepare_image(cthw, net, clip="yes")


def test_the_callers_clip_is_not_modified() -> None:
    array, tensor = clip_array(4, 20), torch.rand(1, 3, 4, 20, 20)
    frames = [f.copy() for f in array]
    copies = (array.copy(), tensor.clone(), [f.copy() for f in frames])
    net = tiny_video_net()
    for form in (array, tensor, frames):
        LayerExplorer(net, form, size=16).close()
    assert np.array_equal(array, copies[0]) and torch.equal(tensor, copies[1])
    assert all(np.array_equal(a, b) for a, b in zip(frames, copies[2], strict=True))


def test_a_clip_too_short_says_how_many_frames_the_model_takes() -> None:
    net = tiny_video_net(kt=4)  # a (4, 3, 3) kernel without padding: 4 frames at least
    with pytest.raises(ValueError, match="clip of 2 frames.*runs on 4 frames"):
        LayerExplorer(net, clip_array(2, 16), size=16)
    explorer = LayerExplorer(net, clip_array(6, 16), size=16)
    try:
        assert explorer._data.frame_count == 6
        with pytest.raises(ValueError, match="pass a clip of 4 frames"):
            explorer.set_image(clip_array(3, 16))
        assert explorer._data.frame_count == 6  # the last good clip stays
        explorer.set_image(list(clip_array(5, 16)))
        assert explorer._data.frame_count == 5 and explorer.error is None
    finally:
        explorer.close()


# -- the time axis ----------------------------------------------------------------------------


def test_time_steps_map_to_the_clip_frames_they_cover() -> None:
    assert [input_span(t, 4, 8) for t in range(4)] == [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert [input_frame(t, 4, 8) for t in range(4)] == [1, 3, 5, 7]
    assert [input_frame(t, 8, 8) for t in range(8)] == list(range(8))  # same length: identity
    assert input_frame(0, 1, 16) == 8 and input_span(0, 1, 16) == (0, 15)  # time pooled away
    assert input_span(9, 4, 8) == (6, 7)  # a step past the end stays on the last one
    assert [input_span(t, 3, 4) for t in range(3)] == [(0, 0), (1, 1), (2, 3)]


def test_time_maps_pick_a_step_or_reduce_over_time() -> None:
    frames = np.random.default_rng(0).normal(size=(1, 5, 3, 4, 6)).astype(np.float32)
    view = interpret("conv", torch.from_numpy(frames))
    assert np.array_equal(time_maps(view, 2, "frame"), frames[0][:, 2])
    assert np.allclose(time_maps(view, 0, "mean"), frames[0].mean(axis=1))
    assert np.allclose(time_maps(view, 0, "sum"), frames[0].sum(axis=1), atol=1e-5)
    with pytest.raises(ValueError, match="time_view"):
        time_maps(view, 0, "max")


# -- torchvision video models -----------------------------------------------------------------


def _video_layers(explorer: LayerExplorer) -> list[str]:
    data = explorer._data  # 5-D outputs by the survey's shapes: nothing captured to list them
    keys = [k for k in data.module_keys() if k in data.infos and len(data.shape(k)) == 5]
    return [keys[0], keys[len(keys) // 2], keys[-1]]


def _steps_through_frames(explorer: LayerExplorer, layer: str) -> None:
    explorer.layer, explorer.channel = layer, None
    steps = explorer._data.view(layer).frames.shape[1]
    explorer.tab = "Feature maps"
    first = explorer.tab_object("maps").png()
    explorer.frame = steps - 1
    assert explorer.error is None, explorer.error
    caption = explorer.tab_object("maps").caption.value
    assert f"time step {steps} of {steps}" in caption, caption
    if steps > 1:
        assert decode(explorer.tab_object("maps").png()).tobytes() != decode(first).tobytes()
    for how in ("mean", "sum"):
        explorer.time_view = how
        assert f"{how} over {steps} time steps" in explorer.tab_object("maps").caption.value
    explorer.time_view = "frame"
    explorer.channel = 0  # one channel large: the chosen time step
    assert decode(explorer.tab_object("maps").png()).size > 0
    explorer.tab = "Overlay"  # the last time step over the clip frame it covers
    frames = explorer._data.frame_count
    last = explorer.tab_object("overlay").image.value
    assert f"on clip frame {frames} of {frames}" in explorer.tab_object("overlay").caption.value
    explorer.frame = 0
    assert "on clip frame" in explorer.tab_object("overlay").caption.value
    assert explorer.tab_object("overlay").image.value != last


def _draws_every_tab(explorer: LayerExplorer, categories: bool) -> None:
    for title in explorer.tab_names:
        if title != "maximize":
            explorer.tab = title
            assert explorer.error is None, (title, explorer.error)
    predictions = explorer.tab_object("predictions").html.value
    assert "%" in predictions and "not a class-score vector" not in predictions
    data = explorer._data  # the first convolution with a time extent (kt > 1)
    conv = next(k for k in data.module_keys(convs_only=True) if data.weight(k).shape[2] > 1)
    explorer.layer, explorer.channel = conv, None
    explorer.tab = "Kernels"
    kernels = explorer.tab_object("kernels")
    assert decode(kernels.png()).size > 0
    assert "time slice" in kernels.caption.value or "temporal" in kernels.caption.value


def _maximizes(explorer: LayerExplorer, model: nn.Module, layer: str) -> None:
    explorer.layer, explorer.channel = layer, 0
    explorer.tab = "Maximize"
    tab = explorer.tab_object("maximize")
    tab.steps.value = tab.steps.min
    tab.run()
    result = tab.wait(600)
    assert result.steps == tab.steps.min and "done" in tab.status.value, tab.status.value
    assert f"a clip of {len(result.frames[0])} frames" in tab.status.value
    assert result.frames is not None and result.frames[0].ndim == 4
    assert decode(tab.image.value).shape[1] > decode(tab.image.value).shape[0]  # frames in a row
    settings = MaximizeSettings(steps=2)
    result = maximize(model, (layer, 0), settings=settings)
    assert result.steps == 2 and all(np.isfinite(result.history)), result.history
    frames = result.frames[0]
    assert frames.shape[1:] == result.frames[0][0].shape and frames.shape[0] >= 4
    assert frames.dtype == np.uint8 and frames.shape[-1] == 3


@pytest.mark.parametrize("name", list(SETUPS))
def test_video_model(name: str) -> None:
    frames, side, note = SETUPS[name]
    row = Row(name, True, side, f"{frames} frames; {note}")

    def cover() -> int:
        torch.manual_seed(0)
        model = getattr(video, name)(weights=None)
        before = model_state(model)
        explorer = LayerExplorer(model, clip_array(frames, side), size=side)
        try:
            layers = _video_layers(explorer)
            _steps_through_frames(explorer, layers[0])
            for layer in layers[1:]:
                explorer.layer, explorer.channel, explorer.tab = layer, None, "Feature maps"
                assert explorer.error is None and decode(explorer.tab_object("maps").png()).size
            _draws_every_tab(explorer, categories=False)
            _maximizes(explorer, model, layers[1])
        finally:
            explorer.close()
        assert_model_unchanged(model, before)
        assert all(p.grad is None for p in model.parameters())
        return len(explorer._data.infos)

    VIDEO.run(row, cover)


def test_video_weights_name_kinetics_classes() -> None:
    weights = video.MC3_18_Weights.KINETICS400_V1  # meta and transforms only: no download
    explorer = LayerExplorer(video.mc3_18(weights=None), clip_array(4, 120), weights=weights)
    try:
        explorer.tab = "Predictions"
        html = explorer.tab_object("predictions").html.value
        assert any(name in html for name in weights.meta["categories"]), html
        assert explorer._data.input_size == (112, 112)
    finally:
        explorer.close()


def test_kernels_of_2plus1d_convs_show_both_halves() -> None:
    model = video.r2plus1d_18(weights=None)
    explorer = LayerExplorer(model, clip_array(4, 32), size=32)
    try:
        explorer.tab = "Kernels"
        spatial = "layer1.0.conv1.0.0"  # (1, 3, 3)
        temporal = "layer1.0.conv1.0.3"  # (3, 1, 1)
        for layer, words in ((spatial, "kernels 1-"), (temporal, "temporal kernels (3x1x1)")):
            explorer.layer, explorer.channel = layer, None
            assert explorer.error is None, explorer.error
            assert words in explorer.tab_object("kernels").caption.value
    finally:
        explorer.close()
    explorer = LayerExplorer(tiny_video_net(), clip_array(4, 16), size=16)
    try:  # a (3, 3, 3) kernel over RGB: 3 RGB tiles per output, Grid width outputs per row
        explorer.layer, explorer.channel, explorer.tab = "0", None, "Kernels"
        explorer.columns = 2  # 2 outputs (6 tiles) across, 4 outputs in 2 rows
        picture = decode(explorer.tab_object("kernels").png())
        assert 2.5 < picture.shape[1] / picture.shape[0] < 3.5, picture.shape
        assert "3 time slices per kernel" in explorer.tab_object("kernels").caption.value
        tiles = explorer.tab_object("kernels")._page_tiles[0]  # a click on a slice picks its output
        assert list(tiles.channels) == [c for c in range(4) for _ in range(3)]
        assert tiles.cols == 2  # arrow up/down step by a row of outputs
        assert tiles.boxes[6][1] > tiles.boxes[5][1]  # output 2 starts the second row
        explorer.channel = 2  # one output: a row per input, its 3 time slices across
        assert decode(explorer.tab_object("kernels").png()).size > 0
    finally:
        explorer.close()


@pytest.fixture(scope="module", autouse=True)
def _coverage_table():
    start = time.perf_counter()
    yield
    target = os.environ.get("FEATVIZ_COVERAGE_MD")
    if target and VIDEO.rows:
        path = Path(target)
        text = path.read_text(encoding="utf-8") if path.exists() else "# Model coverage\n"
        header = text.split("\n## ", 1)[0]
        VIDEO.intro.append(f"Wall time of the whole module: {time.perf_counter() - start:.0f} s.")
        # The sections already there keep their places (written as they are), Video goes last.
        others = [Section(t, []) for t in re.findall(r"^## (.+)$", text, re.M) if t != "Video"]
        write_coverage(path, header, [*others, VIDEO])


def test_receptive_field_of_3d_convs_by_graph_matches_the_probe() -> None:
    """torchvision's Conv3DSimple (a Conv3d subclass) is read as a window, not a bare conv3d."""
    from featviz_widgets.engine import receptive_field

    model = video.r3d_18(weights=None)
    before = model_state(model)
    for layer in ("stem", "layer1"):
        graph = receptive_field(model, layer, 64, method="graph")
        assert graph.size == receptive_field(model, layer, 64).size, layer
    assert receptive_field(model, "layer1", 64, method="graph").size == (23, 23)
    assert_model_unchanged(model, before)


def test_video_captions_speak_the_explorers_language() -> None:
    explorer = LayerExplorer(tiny_video_net(), clip_array(4, 16), size=16, lang="zh")
    try:
        explorer.layer, explorer.channel = "0", None  # [4, 2, 16, 16]: 2 time steps
        assert "时间步 1/2（片段第 1-2 帧，共 4 帧）" in explorer.tab_object("maps").caption.value
        explorer.time_view = "sum"
        assert "2 个时间步的总和" in explorer.tab_object("maps").caption.value
        explorer.tab = "Kernels"
        assert "3 个时间切片并排显示" in explorer.tab_object("kernels").caption.value
    finally:
        explorer.close()


# -- dataset examples on a video model ----------------------------------------------------------


def test_dataset_photos_rank_a_video_model_as_still_clips() -> None:
    model = tiny_video_net()
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in range(4)]
    found = top_examples(model, photos, "0", k=4, size=16, progress=False)
    frames = owner_for(model).clip_frames((16, 16))
    assert frames is not None and frames >= 3  # the kt=3 kernel needs three frames at least
    means = []
    for photo in photos:  # the same photos, repeated over time by hand
        still = prepare_image(photo, size=16).batch.unsqueeze(2).expand(-1, -1, frames, -1, -1)
        means.append(capture(model, still, ["0"])["0"][0, 2].mean().item())
    ranked = [image for image, _ in found.top("0", 2)]
    assert ranked == list(np.argsort(-np.asarray(means), kind="stable"))
    explorer = LayerExplorer(model, clip_array(4, 16), size=16, dataset=photos)
    try:  # the Examples tab: ranks, then draws each photo with the channel's map over it
        explorer.tab, explorer.layer, explorer.channel = "Examples", "0", 2
        tab = explorer.tab_object("examples")
        tab.run()
        tab.wait(120)
        assert explorer.error is None, explorer.error
        assert decode(tab.png()).size > 0
    finally:
        explorer.close()
