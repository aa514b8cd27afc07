"""Keras 3 models (torch backend) through the same engine, explorer and maximize as torch models.

References are Keras' own: the multi-output model of the classic tutorial
(``keras.Model(model.inputs, [layer.output ...])``) and the layers' ``kernel`` variables.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is first imported, in this process

import numpy as np
import pytest
import torch
from support import assert_keras_unchanged, assert_model_unchanged, keras_state, model_state

keras = pytest.importorskip("keras")

from featviz_widgets.engine import capture, list_layers, owner_for, survey  # noqa: E402
from featviz_widgets.engine.adapters.keras import KerasAdapter  # noqa: E402
from featviz_widgets.optvis import MaximizeSettings, maximize  # noqa: E402

layers = keras.layers
SIDE = 16


def _sequential() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((SIDE, SIDE, 3)),
            layers.Conv2D(6, 3, padding="same", name="conv1"),
            layers.BatchNormalization(name="bn1"),
            layers.ReLU(name="relu1"),
            layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw"),
            layers.SeparableConv2D(5, 3, name="sep"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dropout(0.5, name="drop"),
            layers.Dense(4, name="fc"),
        ],
        name="seq",
    )


def _nested() -> keras.Model:
    """A classifier around a Functional backbone (``outer/inner/conv`` names)."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((SIDE, SIDE, 3))
    x = layers.Conv2D(4, 3, name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    backbone = keras.Model(inp, layers.ReLU(name="relu")(x), name="backbone")
    outer_in = keras.Input((SIDE, SIDE, 3))
    h = backbone(outer_in)
    h = layers.Conv2D(3, 1, name="head_conv")(h)
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    return keras.Model(outer_in, layers.Dense(3, name="fc")(h), name="classifier")


class _Block(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(4, 3, padding="same", name="inner_conv")
        self.bn = layers.BatchNormalization(name="inner_bn")

    def call(self, x, training=None):
        return keras.ops.relu(self.bn(self.conv(x), training=training))


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="sub")
        self.stem = layers.Conv2D(5, 3, name="stem")
        self.block = _Block(name="block")
        self.pool = layers.GlobalAveragePooling2D(name="pool")
        self.head = layers.Dense(3, name="head")

    def call(self, x, training=None):
        return self.head(self.pool(self.block(self.stem(x), training=training)))


def _subclassed() -> keras.Model:
    keras.utils.set_random_seed(2)
    model = _Subclassed()
    model(np.zeros((1, SIDE, SIDE, 3), np.float32))  # built by one call
    return model


def _image(seed: int = 0) -> torch.Tensor:
    """A featviz batch: channels first, as prepare_image makes it."""
    return torch.rand(1, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(seed))


def _numpy(variable) -> np.ndarray:
    return variable.value.detach().cpu().numpy().copy()


def test_a_keras_model_gets_the_keras_adapter() -> None:
    model = _sequential()
    assert isinstance(owner_for(model).adapter, KerasAdapter)
    assert owner_for(model).fixed_input_size() == (SIDE, SIDE)
    assert owner_for(model).input_channels == 3


def test_layers_of_a_sequential_model_in_execution_order() -> None:
    model = _sequential()
    found = list_layers(model, _image())
    names = [info.name for info in found]
    assert names == ["conv1", "bn1", "relu1", "dw", "sep", "gap", "drop", "fc"]
    by_name = {info.name: info for info in found}
    assert by_name["conv1"].shapes == ((1, SIDE, SIDE, 6),)
    assert by_name["fc"].shapes == ((1, 4),)
    convs = {info.name for info in found if info.is_conv}
    assert convs == {"conv1", "dw", "sep", "fc"}
    assert by_name["conv1"].num_params == 3 * 3 * 3 * 6 + 6


def test_nested_and_subclassed_names() -> None:
    nested = [info.name for info in list_layers(_nested(), _image())]
    assert nested[:4] == ["backbone/conv", "backbone/bn", "backbone/relu", "backbone"]
    assert nested[4:] == ["head_conv", "gap", "fc"]
    sub = [info.name for info in list_layers(_subclassed(), _image())]
    assert sub == ["stem", "block/inner_conv", "block/inner_bn", "block", "pool", "head"]


@pytest.mark.parametrize("build", [_sequential, _nested])
def test_capture_matches_the_tutorials_multi_output_model(build) -> None:
    model = build()
    # The tutorial's recipe reads each layer's .output: top-level layers that are no models.
    top = [
        layer.name
        for layer in model.layers
        if not hasattr(layer, "layers") and type(layer).__name__ != "InputLayer"
    ]
    reference = keras.Model(model.inputs, [model.get_layer(n).output for n in top])
    x = _image(3)
    expected = reference(x.permute(0, 2, 3, 1), training=False)
    acts = capture(model, x, top)  # the multi-output path
    every = capture(model, x)  # the watched-call path, every layer
    for name, want in zip(top, expected, strict=True):
        torch.testing.assert_close(acts[name], want.detach(), rtol=0, atol=1e-6)
        torch.testing.assert_close(every[name], want.detach(), rtol=0, atol=1e-6)


def test_capture_inside_a_nested_model_and_a_subclass() -> None:
    nested = _nested()
    backbone = nested.get_layer("backbone")
    x = _image(4)
    want = backbone(x.permute(0, 2, 3, 1), training=False)
    got = capture(nested, x, ["backbone/relu"])
    torch.testing.assert_close(got["backbone/relu"], want.detach(), rtol=0, atol=1e-6)
    sub = _subclassed()
    want = sub.stem(x.permute(0, 2, 3, 1))
    got = capture(sub, x, ["stem", "block/inner_conv"])
    torch.testing.assert_close(got["stem"], want.detach(), rtol=0, atol=1e-6)
    assert got["block/inner_conv"].shape == (1, SIDE - 2, SIDE - 2, 4)


def test_a_channels_last_batch_is_fed_as_it_is() -> None:
    model = _sequential()
    x = _image(5)
    torch.testing.assert_close(
        capture(model, x.permute(0, 2, 3, 1), ["conv1"])["conv1"],
        capture(model, x, ["conv1"])["conv1"],
    )


def test_kernels_in_torch_layout() -> None:
    model = _sequential()
    adapter = owner_for(model).adapter

    def weight(name: str) -> np.ndarray:
        return adapter.weight(model, name).detach().numpy()

    def kernel(name: str) -> np.ndarray:
        return _numpy(model.get_layer(name).kernel)

    conv = kernel("conv1")  # (kh, kw, in, out)
    np.testing.assert_array_equal(weight("conv1"), conv.transpose(3, 2, 0, 1))
    dw = kernel("dw")  # (kh, kw, in, multiplier)
    per_channel = weight("dw")
    assert per_channel.shape == (12, 1, 3, 3)
    np.testing.assert_array_equal(per_channel[2 * 1 + 1, 0], dw[:, :, 1, 1])  # input 1, copy 1
    assert adapter.weight(model, "sep").shape == (12, 1, 3, 3)
    np.testing.assert_array_equal(weight("fc"), kernel("fc").T)
    assert adapter.weight(model, "relu1") is None


@pytest.mark.parametrize("build", [_sequential, _nested, _subclassed])
def test_the_model_is_left_unchanged(build) -> None:
    model = build()
    model.get_layer(model.layers[-1].name).trainable = False  # a deliberately mixed state
    before = keras_state(model)
    x = _image(6)
    survey(model, x)
    capture(model, x)
    with pytest.raises(ValueError, match="unknown layer"):
        capture(model, x, ["no_such_layer"])
    assert_keras_unchanged(model, before)


def test_maximize_a_keras_layer_both_presets() -> None:
    model = _sequential()
    before = keras_state(model)
    for preset in ("lucid", "classic"):
        settings = MaximizeSettings(preset=preset, steps=3, size=SIDE, preview_every=0)
        result = maximize(model, ("conv1", [0, 1]), settings=settings)
        assert len(result.images) == 2 and result.images[0].shape == (SIDE, SIDE, 3)
        assert result.steps == 3 and all(np.isfinite(result.history))
    assert_keras_unchanged(model, before)


def test_an_unbuilt_model_says_how_to_build_it() -> None:
    model = _Subclassed()
    with pytest.raises(RuntimeError, match="call it once"):
        survey(model, _image())


@pytest.fixture(scope="module")
def resnet50() -> keras.Model:
    """ResNet50 with random weights at 64 x 64 (the architecture, not ImageNet's accuracy)."""
    keras.utils.set_random_seed(0)
    return keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10)


def test_resnet50_capture_and_the_explorer_with_keras_preprocessing(resnet50) -> None:
    from keras.applications.resnet import preprocess_input

    from featviz_widgets.widgets import LayerExplorer

    model = resnet50
    before = keras_state(model)
    acts = capture(model, torch.rand(1, 3, 64, 64), ["conv1_conv", "conv2_block1_out"])
    assert acts["conv2_block1_out"].shape == (1, 16, 16, 256)
    labels = [f"class {i}" for i in range(10)]
    ex = LayerExplorer(model, _photo(), preprocess=preprocess_input, labels=labels)
    try:
        assert "preprocess_input" in ex.tab_object("maps").caption.value
        assert ex.layers[0] == "conv1_conv" and "conv5_block3_3_conv" in ex.layers
        ex.layer = "conv2_block1_out" if "conv2_block1_out" in ex.layers else ex.layers[3]
        for title in ("Overlay", "Kernels", "Predictions", "Feature maps"):
            ex.tab = title
            assert ex.error is None, (title, ex.error)
        assert "class " in ex.tab_object("predictions").html.value
    finally:
        ex.close()
    settings = MaximizeSettings(preset="classic", steps=2, size=64, preview_every=0)
    result = maximize(model, ("conv1_conv", 3), settings=settings, preprocess=preprocess_input)
    assert result.steps == 2 and all(np.isfinite(result.history))
    assert_keras_unchanged(model, before)


def _photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((40, 48, 3)) * 255).astype(np.uint8)


@pytest.mark.parametrize("build", [_sequential, _nested, _subclassed])
def test_the_explorer_opens_and_draws_every_tab(build) -> None:
    from featviz_widgets.widgets import LayerExplorer

    model = build()
    before = keras_state(model)
    ex = LayerExplorer(model, _photo(), labels=["cat", "dog", "fox", "owl"])
    try:
        assert ex.layers and ex.error is None
        assert "[0, 1]" in ex.tab_object("maps").caption.value  # no preprocess=: said so
        for layer in ex.layers:  # the convolutions (and Dense) filter
            ex.layer = layer
            assert ex.tab_object("maps").image.value and ex.error is None
        for title in ex.tab_names:
            ex.tab = title
            assert ex.error is None, (title, ex.error)
        ex.tab, ex.layer = "Kernels", ex.layers[0]
        assert ex.tab_object("kernels").image.value and "weight" in ex.tab_object("kernels").caption.value
        ex.tab = "Overlay"
        assert ex.tab_object("overlay").image.value
        ex.tab = "Predictions"
        assert "%" in ex.tab_object("predictions").html.value
    finally:
        ex.close()
    assert_keras_unchanged(model, before)


def test_the_explorer_kernels_of_the_first_conv_are_rgb_tiles() -> None:
    from featviz_widgets.widgets import LayerExplorer

    model = _sequential()
    ex = LayerExplorer(model, _photo())
    try:
        ex.tab, ex.layer = "Kernels", "conv1"
        assert "6x3x3x3" in ex.tab_object("kernels").caption.value
        assert "RGB" in ex.tab_object("kernels").caption.value
        ex.layer = "dw"
        assert "12x1x3x3" in ex.tab_object("kernels").caption.value
    finally:
        ex.close()


def test_preprocess_applies_keras_preprocessing() -> None:
    from keras.applications.resnet import preprocess_input

    from featviz_widgets.inputs import prepare_image

    model = _sequential()
    prepared = prepare_image(_photo(), model, size=SIDE, preprocess=preprocess_input)
    pixels = prepared.display.astype(np.float32)[None]
    expected = preprocess_input(pixels.copy())[0].transpose(2, 0, 1)
    np.testing.assert_allclose(prepared.batch[0].numpy(), expected, atol=1e-5)
    plain = prepare_image(_photo(), model, size=SIDE)  # [0, 1] scaling
    np.testing.assert_allclose(
        plain.batch[0].numpy(), pixels[0].transpose(2, 0, 1) / 255, atol=1e-6
    )


def test_maximize_in_the_explorer_runs_in_the_job_runner() -> None:
    from featviz_widgets.widgets import LayerExplorer

    model = _sequential()
    before = keras_state(model)
    ex = LayerExplorer(model, _photo())
    try:
        ex.layer, ex.channel = "conv1", 1
        ex.tab = "Maximize"
        tab = ex.tab_object("maximize")
        tab.steps.value, tab.preset.value = 3, "classic"
        tab.run()
        result = ex.tab_object("maximize").wait(60)
        assert not result.cancelled and result.steps == tab.steps.value and tab.image.value
        assert_keras_unchanged(model, before)
    finally:
        ex.close()


def test_a_keras_model_on_another_backend_is_a_clear_type_error() -> None:
    from featviz_widgets.engine import check_model

    jax_like = type("Functional", (), {"__module__": "keras.src.models.functional"})()
    with pytest.raises(TypeError, match="KERAS_BACKEND"):
        check_model(jax_like)


# -- keras.applications with random weights, and the three small models, end to end ------------
# Each model is built once (random weights, the smallest input the application accepts, 10
# classes), opened in the explorer, switched through a sample of its layers, shown in Kernels and
# Overlay, maximized for a few steps, and checked against the state promise: Keras' own view
# (variables, trainable flags, no wrapped call) and torch's (parameters, buffers, modes, hooks).
APP_SIDE = 64  # 32x downsampling leaves 2 x 2 maps at the last stage
APPLICATIONS = ("ResNet50", "VGG16", "MobileNetV2", "EfficientNetB0", "ConvNeXtTiny")
SMALL = {"sequential": _sequential, "nested": _nested, "subclassed": _subclassed}
LAYERS_SHOWN = 12  # evenly spaced over the listed layers, the first and the last included


def _application(name: str) -> keras.Model:
    keras.utils.set_random_seed(0)
    build = getattr(keras.applications, name)
    return build(weights=None, input_shape=(APP_SIDE, APP_SIDE, 3), classes=10)


def _sample(names: list[str], count: int) -> list[str]:
    if len(names) <= count:
        return list(names)
    picks = np.linspace(0, len(names) - 1, count).round().astype(int)
    return [names[i] for i in dict.fromkeys(picks.tolist())]


@pytest.mark.parametrize("name", [*APPLICATIONS, *SMALL])
def test_models_open_switch_layers_draw_kernels_and_overlay_and_maximize(name, request) -> None:
    from featviz_widgets.widgets import LayerExplorer

    if name == "ResNet50":
        model = request.getfixturevalue("resnet50")  # the module's one ResNet50 (64 x 64)
    elif name in SMALL:
        model = SMALL[name]()
    else:
        model = _application(name)
    before, torch_before = keras_state(model), model_state(model)
    ex = LayerExplorer(model, _photo(), labels=[f"class {i}" for i in range(10)])
    try:
        assert ex.layers and ex.error is None
        shown = _sample(ex.layers, LAYERS_SHOWN)
        for layer in shown:
            ex.layer = layer
            for title in ("Feature maps", "Overlay", "Kernels"):
                ex.tab = title
                assert ex.error is None, (layer, title, ex.error)
            assert ex.tab_object("overlay").image.value
        first = ex.layers[0]  # a convolution: its kernels are drawn
        ex.layer, ex.tab = first, "Kernels"
        assert ex.tab_object("kernels").image.value and "weight" in ex.tab_object("kernels").caption.value
        ex.tab = "Predictions"
        assert ex.error is None and "%" in ex.tab_object("predictions").html.value
        ex.channel = 0
        ex.tab = "Maximize"
        tab = ex.tab_object("maximize")
        tab.steps.value, tab.preset.value = 2, "classic"
        if name in APPLICATIONS:
            tab.size.value = APP_SIDE
        tab.run()
        result = ex.tab_object("maximize").wait(120)
        assert not result.cancelled and result.steps == tab.steps.value and tab.image.value
        assert all(np.isfinite(result.history))
    finally:
        ex.close()
    assert_keras_unchanged(model, before)
    assert_model_unchanged(model, torch_before)


def test_dataset_examples_use_the_keras_preprocessing() -> None:
    """top_examples ranks with the same ``preprocess=`` the explorer shows (brute force)."""
    from keras.applications.resnet import preprocess_input

    from featviz_widgets.examples import top_examples
    from featviz_widgets.inputs import prepare_image

    model = _sequential()
    photos = [
        (np.random.default_rng(i).random((40, 40, 3)) * 255).astype(np.uint8) for i in range(6)
    ]
    layer = model.layers[0].name
    found = top_examples(
        model, photos, [layer], k=3, size=SIDE, preprocess=preprocess_input, progress=False
    )
    means = []
    for photo in photos:
        batch = prepare_image(photo, model, size=SIDE, preprocess=preprocess_input).batch
        means.append(capture(model, batch, layer)[layer][0].double().mean(dim=(0, 1)).numpy())
    expected = np.argsort(-np.stack(means), axis=0, kind="stable")[:3].T
    assert np.array_equal(found.indices[layer], expected)
    plain = top_examples(model, photos, [layer], k=3, size=SIDE, progress=False)
    assert plain.fingerprint != found.fingerprint
