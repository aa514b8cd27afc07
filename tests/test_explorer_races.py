"""Clicks during a Maximize run: the model ends every sequence exactly as it started.

Each scenario starts an activation-maximization run on ResNet-18 (train mode, three frozen
parameters, one parameter with a ``.grad``), waits until the worker is inside its steps, then does
what a user does in the notebook meanwhile: toggle graph nodes, load another image, change layer,
channel and tab, close the explorer, press Run again. Afterwards the worker has ended cleanly (done
or cancelled), nothing raised except the documented busy message, and the model is bit-identical
with no hooks, the same flags and the same ``.grad``. Every scenario runs ten times.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import ipywidgets as w
import numpy as np
import pytest
import torch
import torchvision
from support import assert_model_unchanged, hook_count, model_state

from featviz_widgets import LayerExplorer
from featviz_widgets.engine import ModelBusy

REPEATS = 10
BUSY = "is running: Cancel it or wait"


@pytest.fixture(scope="module")
def resnet() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).train()
    for param in (model.conv1.weight, model.bn1.weight, model.fc.bias):
        param.requires_grad_(False)
    model.layer1[0].conv1.weight.grad = torch.full_like(model.layer1[0].conv1.weight, 0.5)
    return model


def _photo(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((72, 72, 3)) * 255).astype(np.uint8)


def _control(ex: LayerExplorer, css: str) -> w.Widget:
    """The control a browser would find by its CSS class."""
    stack, seen = [ex], set()
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        if css in widget._dom_classes:
            return widget
        stack.extend(getattr(widget, "children", ()))
    raise LookupError(css)


def _start(ex: LayerExplorer, steps: int = 400) -> None:
    """Press Run on the Maximize tab and wait until the worker is inside its steps."""
    ex.tab = "Maximize"
    tab = ex.tab_object("maximize")
    tab.steps.value = steps
    tab.size.value = 64
    tab.seed.value = int(tab.seed.value) + 1  # a new job each time: never a cache hit
    tab.run()
    deadline = time.monotonic() + 30
    while tab.progress.value < 2:
        assert tab.running, f"the run ended before its second step: {ex.error}"
        assert time.monotonic() < deadline, "the worker never reached its second step"
        time.sleep(0.005)


def _user_action(action: Callable[[], None]) -> None:
    """A click may wait for the current step or be told the model is busy; nothing else."""
    try:
        action()
    except ModelBusy as error:
        assert BUSY in str(error)


def _finish(ex: LayerExplorer) -> None:
    tab = ex.tab_object("maximize")
    tab.cancel()
    result = tab.wait(60)  # re-raises whatever the worker hit
    assert not tab.running
    assert result is None or result.cancelled or result.steps == int(tab.steps.value)


def _check(model: torch.nn.Module, before) -> None:
    assert_model_unchanged(model, before)
    assert hook_count(model) == 0


def _graph_nodes_on_off(ex: LayerExplorer) -> None:
    filter_ = _control(ex, "featviz-filter")
    _user_action(lambda: setattr(filter_, "value", "nodes"))
    _user_action(lambda: setattr(ex, "layer", "layer1.0.add"))
    _user_action(lambda: setattr(filter_, "value", "conv"))


def _layer_channel_tab(ex: LayerExplorer) -> None:
    _user_action(lambda: setattr(ex, "layer", "layer2.0.conv2"))
    _user_action(lambda: setattr(ex, "channel", 3))
    _user_action(lambda: setattr(ex, "tab", "Overlay"))
    _user_action(lambda: setattr(ex, "tab", "Feature maps"))
    _user_action(lambda: setattr(ex, "layer", "layer3.1.conv1"))


def _second_run(ex: LayerExplorer) -> None:
    ex.tab = "Maximize"
    _user_action(ex.tab_object("maximize").run)
    _user_action(lambda: ex.tab_object("maximize").run_button.click())


SCENARIOS = {
    "graph nodes on/off": _graph_nodes_on_off,
    "layer, channel and tab changes": _layer_channel_tab,
    "a second Run": _second_run,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_click_during_maximize_leaves_the_model_as_it_was(resnet, name) -> None:
    before = model_state(resnet)
    ex = LayerExplorer(resnet, _photo(0), size=64)
    try:
        for _ in range(REPEATS):
            _start(ex)
            SCENARIOS[name](ex)
            assert (
                ex.tab_object("maximize").running or ex.tab_object("maximize").wait(0) is not None
            )
            _finish(ex)
            _check(resnet, before)
            assert ex.error is None or BUSY in ex.error
    finally:
        ex.close()
    _check(resnet, before)


def test_set_image_during_maximize_stops_the_run_and_shows_the_new_image(resnet) -> None:
    before = model_state(resnet)
    ex = LayerExplorer(resnet, _photo(0), size=64)
    try:
        for i in range(REPEATS):
            ex.tab = "Feature maps"
            ex.layer = "layer1.0.conv1"
            _start(ex)
            shown = ex.tab_object("maps").image.value
            ex.set_image(_photo(i + 1))
            assert not ex.tab_object(
                "maximize"
            ).running  # the job was stopped, not left on the model
            _finish(ex)
            ex.tab = "Feature maps"
            assert ex.tab_object("maps").image.value != shown
            _check(resnet, before)
    finally:
        ex.close()


def test_close_during_maximize_ends_the_worker(resnet) -> None:
    before = model_state(resnet)
    for _ in range(REPEATS):
        ex = LayerExplorer(resnet, _photo(0), size=64)
        _start(ex)
        ex.close()
        assert not ex.tab_object("maximize").running
        result = ex.tab_object("maximize").wait(0)
        assert result is None or result.cancelled
        _check(resnet, before)
