"""The Maximize tab in the explorer (runs in a thread, caches, cancels, explains) and the job runner."""

from __future__ import annotations

import html
import threading
import time

import numpy as np
import pytest
import torch
import torchvision
from support import (
    FixedSizeCNN,
    make_tiny_cnn,
    model_state,
)
from torch import nn
from widgets_support import (
    CAT,
    TinyNet,
    decode,
    fresh_tiny,
    maximizer_tab,
    tiny_explorer,
    unchanged,
)

from featviz_widgets import engine, render
from featviz_widgets.widgets import LayerExplorer
from featviz_widgets.widgets.jobs import JobRunner
from featviz_widgets.widgets.tabs.maximize import SIZES


@pytest.fixture(scope="module")
def tiny() -> tuple[nn.Module, LayerExplorer, dict]:
    return tiny_explorer()


# -- maximize ----------------------------------------------------------------------------------


def test_maximize_tab_runs_in_a_thread_and_caches(tiny) -> None:
    model, ex, before = tiny
    ex._panel.filter.value = "conv"
    ex.layer, ex.channel = ex.layers[-1], 1
    tab = maximizer_tab(ex, steps=8)
    assert "press Run" in tab.status.value
    gate, seen = threading.Event(), []
    original = tab._on_step

    def on_step(step, value, preview):  # hold the worker at step 4 while the test looks
        original(step, value, preview)
        seen.append(preview is not None)
        if step == 4:
            gate.wait(30)

    tab._on_step = on_step
    tab.run()
    deadline = time.monotonic() + 30
    while len(seen) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tab.running and tab.progress.value == 4 and "step 4/8" in tab.status.value
    assert tab.run_button.disabled and not tab.cancel_button.disabled
    assert all(c.disabled for c in (tab.steps, tab.size, tab.preset, tab.seed, tab.mode))
    gate.set()
    result = ex.tab_object("maximize").wait(60)
    del tab._on_step
    assert any(seen)  # a live preview arrived
    assert not result.cancelled and result.steps == 8 and len(result.history) == 8
    assert tab.progress.value == 8 and not tab.run_button.disabled and tab.cancel_button.disabled
    assert not any(c.disabled for c in (tab.steps, tab.size, tab.preset, tab.seed, tab.mode))
    assert decode(tab.image.value).shape == (256, 256, 3)  # 64 px shown 4x, crisp
    assert np.array_equal(decode(tab.image.value)[::4, ::4], result.images[0])
    assert "done" in tab.status.value
    unchanged(model, before)
    start = time.perf_counter()
    tab.run()  # cached: no thread, shown at once
    assert not tab.running and time.perf_counter() - start < 0.2 and "cached" in tab.status.value
    ex.channel = 2  # another target: nothing cached for it
    assert "press Run" in tab.status.value and tab.png() is None
    ex.channel = 1
    assert "cached" in tab.status.value and tab.png() is not None


def test_maximize_first_n_channels_sheet(tiny) -> None:
    model, ex, before = tiny
    ex.layer = ex.layers[0]
    tab = maximizer_tab(ex, steps=4)
    tab.mode.value, tab.count.value = "first", 4
    tab.run()
    result = ex.tab_object("maximize").wait(60)
    assert len(result.images) == 4
    side = 2 * 64 + 2  # 2x2 sheet with a 2 px separator
    shown = decode(tab.image.value)
    # The first conv's 4 kernels stand beside the sheet (a 2x2 grid of upsampled 3x3 kernels).
    assert shown.shape[0] == side and shown.shape[1] > side + 4
    assert np.array_equal(shown[:, :side], render.tile_rgb(result.images, cols=2))
    tab.mode.value = "channel"
    unchanged(model, before)


def test_maximize_moves_a_default_layer_that_sees_too_little_and_names_the_channel() -> None:
    model, ex, before = fresh_tiny()
    assert ex.layer == "conv1" and ex.channel is None  # the explorer's own start: the grid
    tab = maximizer_tab(ex, steps=4)
    strongest = int(ex._data.stats("conv2").strongest[0])
    assert "conv1 sees 3x3 pixels; showing conv2, pick a layer to override" in tab.why.value
    expected = f"press Run to maximize conv2 channel {strongest} (strongest on this image)"
    assert expected in html.unescape(tab.status.value)
    tab.run()
    result = ex.tab_object("maximize").wait(60)
    assert f"done: conv2 channel {strongest} (strongest" in html.unescape(tab.status.value)
    shown = decode(tab.image.value)
    scale = shown.shape[0] // 64
    # The picture, then conv1's 8 kernels upsampled beside it (what conv1 itself would want).
    assert shown.shape[1] > shown.shape[0]
    assert np.array_equal(shown[: 64 * scale : scale, : 64 * scale : scale], result.images[0])
    unchanged(model, before)
    ex.close()


def test_maximize_keeps_a_layer_or_channel_the_user_picked() -> None:
    model, ex, before = fresh_tiny()
    tab = maximizer_tab(ex, steps=4)
    ex.channel = 3  # a channel of conv1, picked: conv1 it is
    assert tab.why.value == ""
    assert "press Run to maximize conv1 channel 3 " in html.unescape(tab.status.value)
    ex.channel = None
    assert "showing conv2" in tab.why.value
    ex.layer = "conv2"
    ex.layer = "conv1"  # picked from the list: the user's choice wins from now on
    strongest = int(ex._data.stats("conv1").strongest[0])
    assert tab.why.value == ""
    expected = f"press Run to maximize conv1 channel {strongest} (strongest on this image)"
    assert expected in html.unescape(tab.status.value)
    tab.run()
    ex.tab_object("maximize").wait(60)
    assert f"done: conv1 channel {strongest}" in html.unescape(tab.status.value)
    unchanged(model, before)
    ex.close()


def test_maximize_cancel_stops_within_a_step(tiny) -> None:
    model, ex, before = tiny
    tab = maximizer_tab(ex, steps=5000, size=96)
    stepped = threading.Event()
    original = tab._on_step

    def on_step(step, value, preview):
        original(step, value, preview)
        stepped.set()

    tab._on_step = on_step
    tab.run()
    assert stepped.wait(30)
    ex.layer, ex.columns = ex.layers[0], 5  # the explorer stays usable while the worker runs
    assert ex.error is None and tab.running
    ex.columns = 8
    tab.cancel_button.click()
    result = ex.tab_object("maximize").wait(30)
    assert result.cancelled and result.steps < 5000
    assert "cancelled" in tab.status.value and not tab.run_button.disabled
    del tab._on_step
    unchanged(model, before)


def test_maximize_explains_targets_it_cannot_run() -> None:
    torch.manual_seed(0)
    model = TinyNet()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=48)
    tab = maximizer_tab(ex, steps=4)
    ex._panel.filter.value = "nodes"
    ex.layer = next(n for n in ex.layers if n.endswith("add"))  # a functional node, no module
    assert "not a module output" in tab.status.value
    with pytest.raises(ValueError, match="not a module output"):
        tab.run()  # refused: shown in the tab, raised to the caller, nothing started
    assert not tab.running and "not a module output" in tab.status.value
    unchanged(model, before)


def test_maximize_error_is_shown_in_the_tab_and_raised_by_wait(tiny, monkeypatch) -> None:
    model, ex, before = tiny
    tab = maximizer_tab(ex, steps=4)
    ex._panel.filter.value = "conv"
    ex.layer = ex.layers[0]
    monkeypatch.setattr(type(model), "forward", lambda self, x: 1 / 0)
    tab.seed.value = 7  # a fresh job, nothing cached
    tab.run()
    with pytest.raises((ZeroDivisionError, ValueError), match="division by zero"):
        ex.tab_object("maximize").wait(
            30
        )  # the model's own error (optvis may wrap it after trying another size)
    assert "maximize failed" in tab.status.value and "ZeroDivisionError" in tab.status.value
    assert not tab.run_button.disabled
    monkeypatch.undo()
    ex.set_image(CAT)  # a failed run does not poison later calls
    assert ex.error is None
    unchanged(model, before)


def test_maximize_class_target_with_classic_preset(tiny) -> None:
    model, ex, before = tiny
    tab = maximizer_tab(ex, steps=4)
    tab.mode.value = "class"
    assert len(tab.klass.options) == ex._data.class_vector().shape[0]
    tab.klass.value, tab.preset.value, tab.seed.value = 3, "classic", 3
    tab.run()
    result = ex.tab_object("maximize").wait(60)
    assert result.steps == 4 and "class 3" in tab.status.value
    ex.layer = ex.layers[-1]  # a class target ignores the layer: the cached picture stays
    assert "cached" in tab.status.value and tab.png() is not None
    tab.mode.value, tab.preset.value, tab.seed.value = "channel", "lucid", 0
    unchanged(model, before)


def test_maximize_runs_any_size_on_a_vit_that_takes_one() -> None:
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(
        image_size=32, patch_size=16, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32,
        num_classes=5,
    )  # fmt: skip
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=32)
    ex.layer = "conv_proj"
    tab = maximizer_tab(ex, steps=2, size=64)  # the picture's size: resized to 32 for the model
    assert tab.size.options == SIZES and tab.size.value == 64
    assert "32x32 images only" in tab.size_note.value and "resized" in tab.size_note.value
    assert ex.tab_object("maximize").run() is None and ex.tab_object("maximize").wait(60).images[
        0
    ].shape == (64, 64, 3)
    assert "done" in tab.status.value  # the first click, with the random-jitter preset
    unchanged(model, before)
    ex.close()


def test_maximize_runs_a_size_the_model_rejects_at_the_explorer_size() -> None:
    torch.manual_seed(0)
    model = FixedSizeCNN()  # declares no size, and its Linear head takes 32x32 inputs only
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=32)
    ex.layer = "conv"
    tab = maximizer_tab(ex, steps=2, size=96)
    tab.run()  # one probe forward says no to 96: the first click runs at 32 and says why
    assert (
        ex.tab_object("maximize").wait(60).images[0].shape == (32, 32, 3)
        and "done" in tab.status.value
    )
    assert tab.size.options == (32,) and tab.size.value == 32
    assert "does not accept 96x96 images" in tab.size_note.value
    assert "offers 32px" in tab.size_note.value
    unchanged(model, before)
    ex.close()


def test_maximize_job_names_itself_and_set_image_stops_it(monkeypatch) -> None:
    monkeypatch.setattr(engine.owner, "WIDGET_WAIT_S", 0.2)
    model = make_tiny_cnn()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=32)
    in_step, release = threading.Event(), threading.Event()

    def slow_step(*_):  # the test's own hook: holds optvis inside a step (grad enabled)
        if torch.is_grad_enabled():
            in_step.set()
            release.wait(30)

    handle = model.register_forward_pre_hook(slow_step)
    try:
        ex.channel = 0  # this channel of conv1, as picked: conv2 stays uncaptured
        tab = maximizer_tab(ex, steps=500, size=64)
        tab.run()
        assert in_step.wait(30) and tab.running
        with pytest.raises(engine.ModelBusy, match="Maximize is running"):
            ex.layer = "conv2"
        assert "Maximize is running" in ex.error
        release.set()
        ex.set_image(np.ascontiguousarray(CAT[:, ::-1]))  # stops the job first
        assert not tab.running and tab.wait(10).cancelled and ex.error is None
    finally:
        release.set()
        handle.remove()
        ex.close()
    unchanged(model, before)


def test_job_runner_runs_reports_caches_and_reraises() -> None:
    runner = JobRunner("Work", cache_if=lambda result: 8)
    steps = []
    assert runner.submit(
        "job", lambda cancel, progress: [progress(i) for i in range(3)] and 42,
        owner=None, on_progress=steps.append,
    )  # fmt: skip
    assert runner.wait(10) == 42 and steps == [0, 1, 2]
    assert runner.cached("job") == 42
    assert not runner.submit("job", lambda cancel, progress: 0, owner=None)  # the cache answers
    assert runner.wait(10) == 42
    finished = []
    runner.submit(
        "bad", lambda cancel, progress: 1 / 0, owner=None,
        on_finish=lambda job, result, error: finished.append((job, type(error).__name__)),
    )  # fmt: skip
    with pytest.raises(ZeroDivisionError):
        runner.wait(10)
    assert finished == [("bad", "ZeroDivisionError")] and runner.cached("bad") is None
    runner.close()
    assert runner.cached("job") is None


def test_job_runner_cancel_stop_and_its_deadlock_guard(tiny_cnn) -> None:
    owner = engine.owner_for(tiny_cnn)
    started = threading.Event()
    seen_job = []

    def work(cancel: threading.Event, progress) -> str:
        seen_job.append(owner.job)
        started.set()
        while not cancel.is_set():
            with owner.using():  # a step holds the model, between steps it is free
                time.sleep(0.001)
        return "cancelled"

    runner = JobRunner("Maximize")
    runner.submit("long", work, owner=owner)
    assert started.wait(10) and runner.running and seen_job == ["Maximize"]
    with pytest.raises(TimeoutError):
        runner.wait(0.05)
    with owner.using(), pytest.raises(RuntimeError, match="deadlock"):
        runner.stop()  # joining while holding the model would hang: refused
    runner.stop()
    assert not runner.running and runner.wait() == "cancelled" and owner.job is None
