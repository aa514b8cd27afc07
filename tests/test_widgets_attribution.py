"""The explorer's Attribution tab, without a browser: the class it explains (``ex.target_class``),
the heatmap against ``attribute`` called directly, the channel strip, the Predictions row click,
slow methods in the job runner, Chinese, and the model left as it was."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torchvision
from support import assert_model_unchanged, make_tiny_cnn, model_held, model_state
from test_strings import LABELS, PATTERNS, _english_in
from torch import nn
from widgets_support import CAT, TinyNet, decode

from featviz_widgets import engine
from featviz_widgets.attribution import METHODS, attribute
from featviz_widgets.widgets import LayerExplorer
from featviz_widgets.widgets.tabs._base import _nbytes
from featviz_widgets.widgets.tabs.attribution import answers
from featviz_widgets.widgets.tabs.attribution.answers import FAST_METHODS, LAYER_METHODS

SIZE = 64


@pytest.fixture
def net() -> nn.Module:
    torch.manual_seed(0)
    return TinyNet().eval()


@pytest.fixture
def ex(net):
    explorer = LayerExplorer(net, CAT, size=SIZE)
    explorer.tab = "attribution"
    yield explorer
    explorer.close()


def _direct(ex: LayerExplorer, target: int, method: str = "gradcam", layer: str | None = None):
    return attribute(ex._data.model, ex._data.prepared, target, method=method, layer=layer)


def _top(ex: LayerExplorer) -> int:
    return int(np.argmax(ex._data.class_vector()))


def _png(tab) -> np.ndarray:
    return decode(tab.image.value)


# -- the class: a selection trait ------------------------------------------------------------
def test_the_tab_explains_the_top_class_by_default_and_lists_the_top_five_first(ex) -> None:
    tab = ex.tab_object("attribution")
    assert ex.target_class is None and ex.error is None
    probs = torch.softmax(torch.from_numpy(ex._data.class_vector()), 0).numpy()
    order = list(np.argsort(-probs, kind="stable"))
    values = [value for _, value in tab.target.options]
    assert values[:5] == order[:5] and sorted(values) == list(range(len(probs)))
    assert tab.target.value == _top(ex) == tab.answer.target
    assert f"{100 * probs[order[0]]:.1f}%" in tab.target.options[0][0]
    assert f"(#{_top(ex)})" in tab.caption.value and "gradcam" in tab.caption.value


def test_target_class_moves_the_dropdown_and_the_dropdown_moves_target_class(ex) -> None:
    tab = ex.tab_object("attribution")
    seen = []
    ex.observe(lambda change: seen.append(change["new"]), "target_class")
    other = next(i for i in range(5) if i != _top(ex))
    ex.target_class = other
    assert tab.target.value == other and tab.answer.target == other
    assert f"(#{other})" in tab.caption.value
    tab.target.value = _top(ex)  # the user picks a class in the dropdown
    assert ex.target_class == _top(ex) and seen == [other, _top(ex)]
    ex.target_class = None  # back to "the top class": the dropdown shows it again
    assert tab.target.value == _top(ex)


def test_target_class_takes_a_class_name_and_refuses_bad_values_without_moving() -> None:
    labels = [f"pattern{i}" for i in range(5)]
    torch.manual_seed(0)
    ex = LayerExplorer(TinyNet().eval(), CAT, size=SIZE, labels=labels)
    try:
        ex.target_class = "pattern3"
        assert ex.target_class == 3
        bad = [(5, ValueError, r"int in \[0, 5\), got 5"), (-1, ValueError, "got -1"),
               (True, ValueError, "got True"), (1.5, ValueError, "got 1.5"),
               ("patern3", ValueError, "pattern3")]  # fmt: skip
        for value, kind, words in bad:
            with pytest.raises(kind, match=words):
                ex.target_class = value
            assert ex.target_class == 3 and "target_class" in ex.error
    finally:
        ex.close()


def test_a_model_without_class_scores_gets_a_note_and_no_target_class() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    ex = LayerExplorer(model, CAT, size=32)
    try:
        ex.tab = "attribution"
        tab = ex.tab_object("attribution")
        assert ex.error is None and tab.answer is None and tab.image.layout.display == "none"
        assert "not a class-score vector" in tab.message.value
        tab.run()  # nothing to explain: Explain starts nothing
        assert not tab.running and tab.runner.job is None and tab.status.value == ""
        with pytest.raises(ValueError, match="class-score vector.*only None"):
            ex.target_class = 0
        assert ex.target_class is None
    finally:
        ex.close()


def test_a_class_the_method_cannot_explain_is_said_in_the_tab() -> None:
    """A head of zeros: no layer's gradient reaches the class. The library refuses; the tab says
    why where the heatmap would be, and the explorer itself stays free of errors."""
    torch.manual_seed(0)
    model = TinyNet().eval()
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        head.weight.zero_()
    with pytest.raises(ValueError) as refused:
        attribute(model, CAT, 0, size=SIZE)
    ex = LayerExplorer(model, CAT, size=SIZE)
    try:
        ex.tab = "attribution"
        tab = ex.tab_object("attribution")
        assert ex.error is None and tab.answer is None and tab.image.layout.display == "none"
        assert str(refused.value)[:40] in tab.message.value.replace("&#x27;", "'")
    finally:
        ex.close()


# -- the heatmap -----------------------------------------------------------------------------
def test_the_heatmap_is_attribute_called_directly_drawn_over_the_photo(ex) -> None:
    tab = ex.tab_object("attribution")
    direct = _direct(ex, _top(ex))
    np.testing.assert_allclose(tab.answer.map, direct.map, rtol=1e-5, atol=1e-7)
    assert tab.answer.layer == direct.layer == "conv3"
    shown = _png(tab)
    assert shown.shape == (*ex._data.prepared.display.shape[:2], 3)
    assert shown.std() > 10, "a uniform heatmap"
    assert np.array_equal(shown, decode(direct.png(opacity=0.5)))
    geometry = tab.image.geometry  # hover names the class and reads the value under the pointer
    assert geometry["title"] == ex._data.class_name(_top(ex))
    assert geometry["cells"] == list(direct.map.shape) and tab.image.read(0, 10, 20) == (
        pytest.approx(float(direct.heat()[10, 20]), rel=1e-3, abs=1e-6)
    )
    assert f"{direct.score:.3g}" in tab.caption.value and "conv3" in tab.caption.value


def test_opacity_and_class_change_the_picture(ex) -> None:
    tab = ex.tab_object("attribution")
    first = _png(tab)
    tab.opacity.value = 0.9
    assert not np.array_equal(_png(tab), first)
    assert np.array_equal(_png(tab), decode(_direct(ex, _top(ex)).png(opacity=0.9)))
    other = next(i for i in range(5) if i != _top(ex))
    ex.target_class = other
    assert np.array_equal(_png(tab), decode(_direct(ex, other).png(opacity=0.9)))


def test_fast_answers_are_cached_by_fingerprint(ex, monkeypatch) -> None:
    tab = ex.tab_object("attribution")
    calls = []
    real = answers.attribute
    monkeypatch.setattr(answers, "attribute", lambda *a, **k: calls.append(k) or real(*a, **k))
    other = next(i for i in range(5) if i != _top(ex))
    ex.target_class = other
    ex.target_class = None
    ex.target_class = other
    tab.opacity.value = 0.3  # a new picture of a known answer: no new explanation
    assert len(calls) == 1
    assert _nbytes(tab.answer) >= tab.answer.map.nbytes + tab.answer.heat.nbytes


def test_every_fast_method_draws_and_input_methods_lock_the_layer(ex) -> None:
    tab = ex.tab_object("attribution")
    assert set(FAST_METHODS) < set(METHODS) == set(tab.method.options)
    for method in FAST_METHODS:
        tab.method.value = method
        assert ex.error is None and tab.answer.method == method, method
        assert tab.layer.disabled == (method not in LAYER_METHODS)
        assert tab.image.layout.display is None and _png(tab).std() > 0, method
    tab.method.value = "saliency"
    assert tab.strip.layout.display == "none" and "input pixels" in tab.strip_caption.value


def test_layer_is_auto_or_the_explorers_layer_once_picked(ex) -> None:
    tab = ex.tab_object("attribution")
    assert [value for _, value in tab.layer.options] == [""]
    ex.layer = "conv2"  # the user's pick in the explorer
    assert [value for _, value in tab.layer.options] == ["", "conv2"] and tab.layer.value == ""
    tab.layer.value = "conv2"
    direct = _direct(ex, _top(ex), layer="conv2")
    assert tab.answer.layer == "conv2" and "(auto)" not in tab.caption.value
    np.testing.assert_allclose(tab.answer.map, direct.map, rtol=1e-5, atol=1e-7)
    ex.layer = "conv1"  # the explorer's layer was the one chosen: the tab follows it
    assert tab.layer.value == "conv1" and tab.answer.layer == "conv1"


# -- the channels behind the decision --------------------------------------------------------
def test_the_strip_shows_the_top_channels_and_a_click_selects_layer_and_channel(ex) -> None:
    tab = ex.tab_object("attribution")
    direct = _direct(ex, _top(ex))
    top = [channel for channel, _ in direct.top_channels(8)]
    assert tab.strip.geometry["channels"] == top and tab.strip.geometry["click"] == "select"
    strip = decode(tab.strip.value)
    assert strip.std() > 10
    first = f"{top[0]} ({direct.channels[top[0]]:+.3g})"
    assert first in tab.strip_caption.value
    ex.layer = "conv1"
    tab.strip._on_message(tab.strip, {"event": "pick", "channel": top[2], "tile": 2}, [])
    assert (ex.layer, ex.channel) == ("conv3", top[2])
    ex.tab = "maps"  # Feature maps follows: the channel drawn large
    assert ex.tab_object("maps").image.geometry["channels"] == [top[2]]


# -- Predictions -> Attribution --------------------------------------------------------------
def test_clicking_a_predictions_row_explains_that_class(ex) -> None:
    ex.tab = "predictions"
    table = ex.tab_object("predictions").html
    keys = table.row_keys()
    probs = ex._data.class_vector()
    assert [int(k) for k in keys] == list(np.argsort(-probs, kind="stable")[:5])
    table._on_message(table, {"event": "pick", "key": keys[2]}, [])
    assert ex.target_class == int(keys[2]) and ex.tab == "Attribution"
    tab = ex.tab_object("attribution")
    assert tab.answer.target == int(keys[2]) and tab.target.value == int(keys[2])
    for junk in ({"event": "pick", "key": "999"}, {"event": "pick", "key": 3}, {"key": keys[0]}):
        table._on_message(table, junk, [])  # only what the table offers is taken
    assert ex.target_class == int(keys[2])


# -- slow methods: the job runner ------------------------------------------------------------
def test_a_slow_method_waits_for_explain_runs_in_the_job_runner_and_is_cached(ex) -> None:
    tab = ex.tab_object("attribution")
    tab.method.value = "integrated_gradients"
    assert tab.answer is None and tab.image.layout.display == "none"
    assert "press Explain" in tab.status.value
    tab.run()
    assert isinstance(tab.wait(120), answers.Answer)
    assert tab.answer is not None and tab.answer.method == "integrated_gradients"
    direct = _direct(ex, _top(ex), "integrated_gradients")
    np.testing.assert_allclose(tab.answer.map, direct.map, rtol=1e-4, atol=1e-6)
    assert np.array_equal(_png(tab), decode(direct.png(opacity=0.5)))
    assert "done in" in tab.status.value and not tab.run_button.disabled
    tab.method.value = "gradcam"
    tab.method.value = "integrated_gradients"  # back: from the runner's cache, no new run
    assert tab.answer.method == "integrated_gradients"
    tab.run()
    assert not tab.running and tab.runner.cached(tab._fingerprint(ex._snapshot())) is not None


def test_a_failed_job_shows_a_red_line_and_frees_the_controls(ex, monkeypatch) -> None:
    tab = ex.tab_object("attribution")
    tab.method.value = "occlusion"

    def broken(*args, **kwargs):
        raise ValueError("window must be a positive int, got 0")

    monkeypatch.setattr(answers, "attribute", broken)
    tab.run()
    with pytest.raises(ValueError, match="window"):
        tab.wait(60)
    assert "attribution failed: ValueError: window" in tab.status.value
    assert not tab.method.disabled and tab.cancel_button.disabled


def test_a_cancelled_run_leaves_no_answer_and_says_so(ex, monkeypatch) -> None:
    tab = ex.tab_object("attribution")
    tab.method.value = "smoothgrad"
    started, go = threading.Event(), threading.Event()
    real = answers.attribute

    def held(*args, **kwargs):
        started.set()
        go.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(answers, "attribute", held)
    tab.run()
    assert started.wait(30) and tab.running and tab.method.disabled
    tab.cancel()
    go.set()
    assert tab.wait(60) is None
    assert "smoothgrad cancelled" in tab.status.value and tab.answer is None
    assert tab.runner.cached(tab._fingerprint(ex._snapshot())) is None
    assert not tab.method.disabled and tab.image.layout.display == "none"


def test_a_fast_method_while_a_job_holds_the_model_shows_model_busy(ex, monkeypatch) -> None:
    monkeypatch.setattr(engine.owner, "WIDGET_WAIT_S", 0.2)
    tab = ex.tab_object("attribution")
    other = next(i for i in range(5) if i != _top(ex))
    with model_held(ex._data.model, "Maximize"):
        with pytest.raises(engine.ModelBusy, match="Maximize is running"):
            ex.target_class = other
        assert ex.error.startswith("ModelBusy: Maximize is running")
    tab.update(ex._snapshot())  # the model is free again: the class is explained
    assert tab.answer.target == other


def test_a_new_image_lists_its_own_top_classes_and_keeps_the_chosen_one(ex) -> None:
    tab = ex.tab_object("attribution")
    ex.target_class = 4
    ex.set_image(CAT[::-1].copy())  # the photo upside down: other scores
    probs = ex._data.class_vector()
    assert [v for _, v in tab.target.options][:5] == list(np.argsort(-probs, kind="stable")[:5])
    assert ex.target_class == 4 and tab.answer.target == 4
    np.testing.assert_allclose(tab.answer.map, _direct(ex, 4).map, rtol=1e-5, atol=1e-7)


# -- Chinese, and the model afterwards -------------------------------------------------------
def test_a_chinese_attribution_tab_shows_no_english() -> None:
    ex = LayerExplorer(make_tiny_cnn(), PATTERNS.images[0], size=32, lang="zh", labels=LABELS)
    try:
        tab = ex.tab_object("attribution")
        assert ex._tab.titles[ex.tab_names.index("attribution")] == "归因"
        ex.tab = "归因"
        assert ex.error is None and tab.answer is not None
        tab.method.value = "saliency"  # the note instead of the strip
        tab.method.value = "occlusion"  # the "press Explain" line
        tab.run()
        tab.wait(60)
        ex.tab = "predictions"
        wrong = _english_in(ex)
        assert not wrong, wrong
        assert "归因" in tab.status.value or "完成" in tab.status.value
        with pytest.raises(ValueError, match="target_class 必须是"):
            ex.target_class = 99
    finally:
        ex.close()


def test_the_model_is_left_as_it_was(net) -> None:
    net.train()
    net.conv1.weight.requires_grad_(False)
    user_calls = []
    handle = net.conv2.register_forward_hook(lambda *_: user_calls.append(1))
    before = model_state(net)
    ex = LayerExplorer(net, CAT, size=SIZE)
    try:
        ex.tab = "attribution"
        tab = ex.tab_object("attribution")
        for method in ("gradcam", "guided_backprop", "scorecam"):
            tab.method.value = method
            if method == "scorecam":
                tab.run()
                tab.wait(120)
                assert not tab.layer.disabled  # a layer method: the layer is free again
            assert tab.answer is not None and tab.answer.method == method
        with pytest.raises(ValueError):
            ex.target_class = 10
    finally:
        ex.close()
    assert user_calls, "the user's hook must keep firing"
    handle.remove()
    assert_model_unchanged(net, before)
    assert net.training and not net.conv1.weight.requires_grad


@pytest.mark.pretrained
def test_mobilenet_v2_explains_the_coffee_photo_through_its_last_features() -> None:
    from skimage.data import coffee

    weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
    model = torchvision.models.mobilenet_v2(weights=weights).eval()
    ex = LayerExplorer(model, coffee(), weights=weights)
    try:
        ex.tab = "attribution"
        tab = ex.tab_object("attribution")
        name = weights.meta["categories"][tab.answer.target]
        assert name in ("espresso", "cup", "coffee mug"), name
        assert tab.answer.layer == "features" and name in tab.caption.value
        # The cup sits in the middle of the centre-cropped photo, the table around it: the
        # middle quarter of the map outweighs the rim by half again.
        heat = tab.answer.heat
        middle = heat[56:168, 56:168].mean()
        rim = (heat.sum() - heat[56:168, 56:168].sum()) / (heat.size - 112 * 112)
        assert middle > 1.5 * rim and heat.std() > 0.3 * heat.mean(), (middle, rim)
        assert len(tab.strip.geometry["channels"]) == 8 and decode(tab.strip.value).std() > 10
    finally:
        ex.close()
