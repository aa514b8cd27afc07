"""``top_examples`` on a Keras model (torch backend) reads its maps channels-last, as Keras lays
them out, even where the shape alone would suggest channels first.

The reference is Keras' own: a ``keras.Model`` ending at the layer, fed the same pixels, and the
ranking done in NumPy (float64 means, ties to the lower position).
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is first imported, in this process

import numpy as np
import pytest
import torch
from support import assert_keras_unchanged, assert_model_unchanged, keras_state, model_state

keras = pytest.importorskip("keras")

from featviz_widgets.engine import layouts, survey  # noqa: E402
from featviz_widgets.examples import top_examples  # noqa: E402
from featviz_widgets.inputs import prepare_image  # noqa: E402

SIDE = 16
K = 3


def _tall_map_model() -> keras.Model:
    """``wide`` outputs ``[N, 16, 8, 8]`` (NHWC): 8 channels over a 16 x 8 map, so the channel
    count equals the map's width and ``[16, 8, 8]`` looks like 16 channels of 8 x 8 by shape."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Conv2D(8, (3, 1), strides=(1, 2), padding="same", name="wide")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="fc")(x), name="tall")


def _photos(count: int) -> list[np.ndarray]:
    return [
        (np.random.default_rng(i).random((24, 30, 3)) * 255).astype(np.uint8) for i in range(count)
    ]


def _ranked(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``[images, C]`` -> ``[C, k]`` positions (best first, ties to the lower) and values."""
    order = np.argsort(-values, axis=0, kind="stable")[:k].T
    return order, np.take_along_axis(values.T, order, axis=1)


def test_a_non_square_keras_map_is_ranked_by_its_channels_last_channels() -> None:
    model = _tall_map_model()
    before, torch_before = keras_state(model), model_state(model)
    photos = _photos(7)
    found = top_examples(model, photos, ["wide"], k=K, size=SIDE, batch_size=3, progress=False)
    # Keras' own outputs of the layer, on the very pixels top_examples fed the model.
    reference = keras.Model(model.inputs, model.get_layer("wide").output)
    batch = torch.cat([prepare_image(p, model, size=SIDE).batch for p in photos])
    nhwc = reference(batch.permute(0, 2, 3, 1).numpy(), training=False)
    nhwc = keras.ops.convert_to_numpy(nhwc).astype(np.float64)
    assert nhwc.shape == (7, SIDE, SIDE // 2, 8)  # a 16 x 8 map of 8 channels
    means = nhwc.mean(axis=(1, 2))  # [images, C]
    maxes = nhwc.max(axis=(1, 2))
    indices, scores = _ranked(means, K)
    max_indices, max_scores = _ranked(maxes, K)
    assert found.layouts["wide"] == "channels_last"
    assert found.map_shapes["wide"] == (SIDE, SIDE // 2)
    assert found.indices["wide"].shape == (8, K)  # 8 channels, not 16
    assert np.array_equal(found.indices["wide"], indices)
    np.testing.assert_allclose(found.scores["wide"], scores, rtol=1e-5, atol=1e-6)
    assert np.array_equal(found.max_indices["wide"], max_indices)
    np.testing.assert_allclose(found.max_scores["wide"], max_scores, rtol=1e-5, atol=1e-6)
    # Where each best image's max sits, as (y, x) on the 16 x 8 map.
    for channel in range(8):
        for rank, image in enumerate(max_indices[channel]):
            plane = nhwc[image, :, :, channel]
            y, x = found.max_positions["wide"][channel, rank]
            assert plane[y, x] == pytest.approx(plane.max(), rel=1e-5, abs=1e-6)
    assert_keras_unchanged(model, before)
    assert_model_unchanged(model, torch_before)


def test_the_shape_alone_would_read_that_map_channels_first() -> None:
    """Why the test above can fail: without the declared layout the rules guess otherwise."""
    from featviz_widgets.layout import to_channel_maps

    model = _tall_map_model()
    batch = prepare_image(_photos(1)[0], model, size=SIDE).batch
    found = survey(model, batch)
    assert found.shapes["wide"] == (1, SIDE, SIDE // 2, 8)
    assert layouts(model, found)["wide"] == "channels_last"  # what Keras declares
    guessed = to_channel_maps(np.zeros(found.shapes["wide"][1:], np.float32))
    assert guessed.maps.shape[0] != 8  # by shape alone: not the 8 channels
