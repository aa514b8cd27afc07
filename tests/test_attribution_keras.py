"""Attribution on a Keras 3 model (torch backend), through the engine's Keras adapter.

The reference is the Keras tutorial's Grad-CAM ("Grad-CAM class activation visualization"):
a model returning the layer's output and the predictions, the gradient of the class score with
respect to the layer's (channels-last) maps, averaged per channel.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is first imported, in this process

import numpy as np
import pytest
import torch
from support import assert_keras_unchanged, keras_state

keras = pytest.importorskip("keras")

from featviz_widgets.attribution import attribute  # noqa: E402
from featviz_widgets.inputs import PreparedImage  # noqa: E402

layers = keras.layers
SIDE = 16


def classifier() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIDE, SIDE, 3))
    x = layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
    x = layers.ReLU(name="relu1")(x)
    x = layers.Conv2D(5, 3, name="conv2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(4, name="fc")(x), name="keras_cnn")


def keras_gradcam(model: keras.Model, pixels: np.ndarray, layer: str, index: int) -> np.ndarray:
    """The Keras tutorial's recipe, on the torch backend's autograd."""
    grad_model = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])
    x = torch.from_numpy(pixels[None]).requires_grad_(True)  # NHWC, as Keras takes it
    maps, predictions = grad_model(x)
    (grads,) = torch.autograd.grad(predictions[:, index].sum(), maps)
    pooled = grads.mean(dim=(0, 1, 2))
    heatmap = (maps[0] @ pooled[:, None])[..., 0]
    return heatmap.clamp(min=0).detach().numpy()


def test_keras_gradcam_matches_the_keras_tutorial() -> None:
    model = classifier()
    rng = np.random.default_rng(0)
    pixels = rng.random((SIDE, SIDE, 3), dtype=np.float32)
    batch = torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous()  # featviz's NCHW
    prepared = PreparedImage(batch, (pixels * 255).astype(np.uint8), (0.0,) * 3, (1.0,) * 3)
    before = keras_state(model)
    result = attribute(model, prepared)
    assert_keras_unchanged(model, before)
    assert result.layer == "conv2"  # the last spatial layer, read channels-last by the adapter
    logits = np.asarray(model(pixels[None]).detach())
    assert result.target == int(logits.argmax())
    expected = keras_gradcam(model, pixels, "conv2", result.target)
    assert expected.shape == result.layer_map.shape == (14, 14)
    assert expected.max() > 0
    np.testing.assert_allclose(result.layer_map, expected, rtol=1e-5, atol=1e-6)
    saliency = attribute(model, prepared, 1, method="saliency")
    assert saliency.input_map.shape == (3, SIDE, SIDE) and np.abs(saliency.map).max() > 0
    assert_keras_unchanged(model, before)
