"""The engine's model owner: one lock per model, state restore, the naming grammar, the budget."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from support import assert_model_unchanged, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets.engine import (
    BudgetCache,
    CaptureKey,
    ModelBusy,
    capture,
    memory_budget,
    memory_in_use,
    owner_for,
    parse_key,
    set_memory_budget,
    survey,
)
from featviz_widgets.engine._recorder import flatten
from featviz_widgets.engine.budget import DEFAULT_BUDGET


@pytest.fixture
def budget():
    """Run a test under its own budget and restore the default afterwards."""
    yield set_memory_budget
    set_memory_budget(DEFAULT_BUDGET)


# -- the naming grammar ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "parsed"),
    [
        ("conv1", CaptureKey("conv1")),
        ("layer1.0.relu#2", CaptureKey("layer1.0.relu", 2)),
        ("head[0]", CaptureKey("head", 1, (0,))),
        ("aux['out']", CaptureKey("aux", 1, ("out",))),
        ("blocks.3#12[1]['x'][0]", CaptureKey("blocks.3", 12, (1, "x", 0))),
        ("", CaptureKey("")),
    ],
)
def test_parse_key_reads_every_form_and_round_trips(key: str, parsed: CaptureKey) -> None:
    assert parse_key(key) == parsed
    assert str(parsed) == key


def test_parse_key_reads_what_flatten_writes() -> None:
    output = {"out": torch.zeros(1), "aux": (torch.zeros(2), [torch.zeros(3)])}
    for key, tensor in flatten("head#3", output):
        parts = parse_key(key)
        value = output
        for part in parts.part:
            value = value[part]
        assert value is tensor and parts.name == "head" and parts.call == 3


@pytest.mark.parametrize("bad", ["conv#0", "conv#x", "conv[", "conv[0", "conv[]", "conv[a b]"])
def test_malformed_keys_are_a_clear_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        parse_key(bad)


# -- one owner, one lock ----------------------------------------------------------------------------


def test_one_owner_per_model() -> None:
    a, b = make_tiny_cnn(), make_tiny_cnn()
    assert owner_for(a) is owner_for(a)
    assert owner_for(a) is not owner_for(b)
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        owner_for(a.state_dict())


def test_using_restores_every_flag_and_grad_even_on_error() -> None:
    model = make_tiny_cnn().train()
    model.conv1.weight.requires_grad_(False)
    model.bn1.weight.grad = torch.ones_like(model.bn1.weight)
    grad = model.bn1.weight.grad
    before = model_state(model)
    with pytest.raises(RuntimeError, match="boom"), owner_for(model).using():
        model.eval()
        for p in model.parameters():
            p.requires_grad_(True)
            p.grad = None
        raise RuntimeError("boom")
    assert_model_unchanged(model, before)
    assert model.bn1.weight.grad is grad and model.conv1.weight.grad is None


def test_a_waiting_thread_gets_the_model_before_a_job_takes_it_again() -> None:
    """The lock is fair: a job that re-takes it every step cannot starve a click."""
    model = make_tiny_cnn()  # kept alive: an owner holds its model weakly
    owner = owner_for(model)
    order: list[str] = []
    stop = threading.Event()
    started = threading.Event()

    def job() -> None:
        while not stop.is_set():
            with owner.using():
                order.append("step")
                started.set()
                time.sleep(0.01)

    worker = threading.Thread(target=job)
    worker.start()
    started.wait(5)
    try:
        for _ in range(5):
            with owner.using(timeout=2):
                order.append("click")
    finally:
        stop.set()
        worker.join(5)
    assert order.count("click") == 5
    assert not worker.is_alive()


def test_a_click_past_the_wait_limit_is_told_who_holds_the_model() -> None:
    model = make_tiny_cnn()  # kept alive: an owner holds its model weakly
    owner = owner_for(model)
    holding, release = threading.Event(), threading.Event()

    def job() -> None:
        with owner.running("Maximize"), owner.using():
            holding.set()
            release.wait(5)

    worker = threading.Thread(target=job)
    worker.start()
    holding.wait(5)
    try:
        busy = pytest.raises(ModelBusy, match="Maximize is running: Cancel it or wait")
        with busy, owner.using(timeout=0.05):
            pass
    finally:
        release.set()
        worker.join(5)
    with owner.using(timeout=1):  # free again, and the queue left no ticket behind
        pass


def test_capture_waits_for_the_holder_and_never_interleaves() -> None:
    """A capture from another thread runs only once the holder is done with the model."""
    model = make_tiny_cnn()
    x = torch.randn(1, 3, 16, 16)
    expected = capture(model, x, "conv2")["conv2"]
    owner = owner_for(model)
    events: list[str] = []
    inside = threading.Event()

    def capture_in_thread() -> None:
        events.append("capture asks")
        result = capture(model, x, "conv2")["conv2"]
        events.append("capture done")
        assert torch.equal(result, expected)

    with owner.using():
        model.train()  # what a job might do inside its step; restored on exit
        thread = threading.Thread(target=capture_in_thread)
        thread.start()
        inside.wait(0.2)
        events.append("holder done")
    thread.join(10)
    assert events == ["capture asks", "holder done", "capture done"]
    assert not model.training


def test_fixed_input_size_reads_the_models_own_metadata() -> None:
    import torchvision

    assert owner_for(torchvision.models.vit_b_16(image_size=96)).fixed_input_size() == (96, 96)
    assert owner_for(make_tiny_cnn()).fixed_input_size() is None

    class HFLike(nn.Module):
        config = type("Config", (), {"image_size": 64})()

    assert owner_for(HFLike()).fixed_input_size() == (64, 64)

    class TimmLike(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch_embed = nn.Identity()
            self.patch_embed.img_size = (3, 80, 80)

    assert owner_for(TimmLike()).fixed_input_size() == (80, 80)


def test_accepts_probes_a_size_once_and_names_the_failure() -> None:
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 14 * 14, 3))
    before = model_state(model)
    owner = owner_for(model)
    example = torch.rand(1, 3, 16, 16)
    assert owner.accepts(16, example) is None
    reason = owner.accepts(32, example)
    assert reason is not None and "RuntimeError" in reason
    calls = []
    model.register_forward_pre_hook(lambda *a: calls.append(1))
    assert owner.accepts(32, example) == reason and not calls  # cached: no second forward
    model._forward_pre_hooks.clear()
    assert_model_unchanged(model, before)


def test_survey_keeps_shapes_and_the_output_not_activations() -> None:
    model = make_tiny_cnn()
    x = torch.randn(1, 3, 16, 16)
    before = model_state(model)
    found = survey(model, x)
    acts = capture(model, x)
    assert list(found.shapes) == list(acts)
    assert all(found.shapes[k] == tuple(t.shape) for k, t in acts.items())
    assert torch.equal(found.output, model(x))
    assert_model_unchanged(model, before)


# -- the memory budget ------------------------------------------------------------------------------


def test_budget_evicts_least_recent_layers_of_least_recent_cache(budget) -> None:
    budget(1000)
    first, second = BudgetCache(), BudgetCache()
    first.put("a", "A", 300)
    first.put("b", "B", 300)
    second.put("c", "C", 300)
    assert first.get("a") == "A"  # first is now the most recent cache, "b" its oldest layer
    second.put("d", "D", 300)  # over budget: the least recent cache is second... touched last
    # second was used last (put "d"), so first is the least recent cache: its oldest layer "b" goes
    assert first.get("b") is None and first.get("a") == "A"
    assert second.get("c") == "C" and second.get("d") == "D"
    assert memory_in_use() <= memory_budget()


def test_an_entry_bigger_than_the_budget_is_kept_alone_while_shown(budget) -> None:
    budget(100)
    cache = BudgetCache()
    cache.put("small", 1, 50)
    cache.put("huge", 2, 500)
    assert cache.get("huge") == 2 and cache.get("small") is None


def test_a_collected_cache_frees_its_entries(budget) -> None:
    budget(10**6)
    start = memory_in_use()
    cache = BudgetCache()
    cache.put("x", bytearray(10), 4000)
    assert memory_in_use() == start + 4000
    del cache
    assert memory_in_use() == start


@pytest.mark.parametrize(
    ("text", "expected"), [("512 MiB", 512 * 2**20), ("2GB", 2 * 10**9), ("1.5kib", 1536), (42, 42)]
)
def test_set_memory_budget_reads_units(budget, text, expected) -> None:
    budget(text)
    assert memory_budget() == expected


@pytest.mark.parametrize(
    ("bad", "error"), [("lots", ValueError), (-1, ValueError), (1.5, TypeError)]
)
def test_set_memory_budget_rejects_bad_values(budget, bad, error) -> None:
    with pytest.raises(error, match="budget"):
        set_memory_budget(bad)


def test_set_memory_budget_is_public() -> None:
    import featviz_widgets

    assert featviz_widgets.set_memory_budget is set_memory_budget


def test_an_owner_does_not_keep_its_model_alive() -> None:
    """Owners are per model for the process: a strong reference would leak every model shown."""
    import gc
    import weakref

    model = make_tiny_cnn()
    capture(model, torch.randn(1, 3, 16, 16), "conv1")  # creates the owner and its caches
    survey(model, torch.randn(1, 3, 16, 16))
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
