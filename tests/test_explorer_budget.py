"""The explorer under the model owner and the memory budget: what is captured when, what is kept,
and a click while a job holds the model.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
import torchvision
from support import (
    make_tiny_cnn,
    model_held,
    model_state,
)
from widgets_support import (
    CAT,
    TinyNet,
    feature_image,
    unchanged,
)

from featviz_widgets import engine
from featviz_widgets.widgets import LayerExplorer


# -- the model owner and the memory budget (one owner for the model) --------------------------
@pytest.fixture
def capture_spy(monkeypatch) -> list[tuple[list[str], bool]]:
    """Every capture the data layer asks the engine for: (names, stop_early)."""
    from featviz_widgets.widgets import _data

    asked: list[tuple[list[str], bool]] = []
    real = _data.capture

    def spy(model, x, layers, **kwargs):
        asked.append((list(layers), kwargs.get("stop_early", True)))
        return real(model, x, layers, **kwargs)

    monkeypatch.setattr(_data, "capture", spy)
    return asked


@pytest.fixture
def restore_budget():
    """Lets a test change the process-wide memory budget; puts the old one back afterwards."""
    old = engine.memory_budget()
    try:
        yield engine.set_memory_budget
    finally:
        engine.set_memory_budget(old)


def _held_since(base: int) -> int:
    return engine.memory_in_use() - base


def test_construction_surveys_shapes_and_captures_only_the_first_layer(capture_spy) -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    gc.collect()  # caches of explorers collected now cannot free bytes during the measure
    base = engine.memory_in_use()
    ex = LayerExplorer(model, CAT, size=64)
    assert capture_spy == [(["conv1"], True)]  # one stop-early capture, of the first layer only
    assert len(ex.activations) == len(ex._data.shapes) > 60  # every output listed, from shapes
    first = ex._data.entries(["conv1"])["conv1"].nbytes
    held = _held_since(base)
    assert first <= held < first + 100_000  # the first layer (and its picture), nothing else
    every = sum(4 * int(np.prod(shape)) for shape in ex._data.shapes.values())
    assert held < every / 5  # conv1, the largest output, is a tenth of them all
    labels = dict((key, label) for label, key in ex._panel.layer.options)
    assert labels["layer1.0.conv1"] == "layer1.0.conv1  64x16x16"  # labels from shapes
    ex.close()
    assert _held_since(base) == 0  # close frees the explorer's activations and pictures


def test_two_explorers_under_a_tiny_budget_evict_each_other_and_draw_the_same(
    capture_spy, restore_budget
) -> None:
    a = LayerExplorer(make_tiny_cnn(), CAT, size=48)
    b = LayerExplorer(make_tiny_cnn(seed=1), np.ascontiguousarray(CAT[::-1]), size=48)
    try:
        pictures = {}
        for ex in (a, b):
            for layer in ex.layers:
                ex.layer = layer
                pictures[id(ex), layer] = ex.tab_object("maps").image.value
        restore_budget("100 KiB")  # less than both explorers' layers together
        assert engine.memory_in_use() <= engine.memory_budget()
        before = len(capture_spy)
        for _ in range(2):
            for ex in (a, b):
                for layer in ex.layers:
                    ex.layer = layer  # evicted by the other explorer: captured again
                    assert ex.tab_object("maps").image.value == pictures[id(ex), layer]
                    assert ex.error is None
                    assert engine.memory_in_use() <= engine.memory_budget()
        recaptured = capture_spy[before:]
        assert len(recaptured) >= 2 * (len(a.layers) + len(b.layers))
        assert all(stop for _, stop in recaptured)  # each one a stop-early forward
        conv = a.layers[-1]
        expected = engine.capture(a._data.model, a._data.prepared.batch, [conv])[conv]
        assert torch.equal(a.activations[conv], expected)  # an old explorer keeps working
    finally:
        a.close()
        b.close()


def test_graph_nodes_are_surveyed_then_captured_one_at_a_time(capture_spy) -> None:
    torch.manual_seed(0)
    model = TinyNet()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=48)
    capture_spy.clear()
    ex._panel.filter.value = "nodes"  # the list and its shapes: a trace and a shapes-only pass
    assert capture_spy == [] and ex.layer == "conv1"  # still shown, nothing captured
    gc.collect()
    base = engine.memory_in_use()
    ex.layer = "add"
    assert capture_spy == [(["add"], True)]
    held = _held_since(base)
    entry = ex._data.entries(["add"])["add"]
    assert entry.nbytes <= held  # kept in the explorer's budget, like a module output
    batch = ex._data.prepared.batch
    expected = engine.capture(model, batch, ["add"])["add"]
    assert torch.equal(ex._data.tensor("add"), expected)
    assert np.array_equal(entry.view.maps, expected[0].numpy())
    captured = engine.capture(model, batch, ex.layers)  # modules among them add "relu#2"...
    assert ex._data.node_shapes == {k: tuple(captured[k].shape) for k in ex.layers}
    ex.layer = "add"
    assert len(capture_spy) == 1  # shown again from the budget
    ex._panel.filter.value = "conv"
    unchanged(model, before)
    ex.close()


def test_a_click_while_a_job_holds_the_model_shows_model_busy(monkeypatch) -> None:
    monkeypatch.setattr(engine.owner, "WIDGET_WAIT_S", 0.2)
    model = make_tiny_cnn()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=32)
    with model_held(model, "Maximize"):
        with pytest.raises(engine.ModelBusy, match="Maximize is running: Cancel it or wait"):
            ex.layer = "conv2"  # never captured: it needs the model
        assert ex.error.startswith("ModelBusy: Maximize is running")
        assert "Maximize is running" in ex._message.widget.value
        assert ex.layer == "conv1" and feature_image(ex).size > 0  # the last good view stays
        ex.columns = 3  # needs no model: works, and clears the message
        assert ex.error is None
    ex.layer = "conv2"
    assert ex.error is None and ex.layer == "conv2"
    unchanged(model, before)
    ex.close()
