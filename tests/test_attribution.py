"""attribute(): targets by index, name and channel, the result, clear errors, the model's state."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from support import assert_model_unchanged, make_tiny_cnn, model_state
from torch import nn

import featviz_widgets
from featviz_widgets.attribution import METHODS, Attribution, attribute
from featviz_widgets.engine import capture
from featviz_widgets.inputs import prepare_image

LABELS = [f"class{i}" for i in range(10)]


def photo(seed: int = 0, height: int = 40, width: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_public_name_and_defaults() -> None:
    assert featviz_widgets.attribute is attribute
    model = make_tiny_cnn()
    result = attribute(model, photo(), size=32)
    assert isinstance(result, Attribution)
    assert result.method == "gradcam" and result.layer == "relu2"
    assert result.map.shape == (32, 32) and result.map.dtype == np.float32
    assert result.layer_map.shape == (16, 16) and result.image.shape == (32, 32, 3)
    batch = prepare_image(photo(), model, size=32).batch
    with torch.no_grad():
        logits = model(batch)[0]
    assert result.target == int(logits.argmax())
    assert result.score == pytest.approx(float(logits.max()), rel=1e-5)
    assert result.target_name is None  # the tiny CNN names no classes


def test_class_names_from_labels_weights_and_the_model() -> None:
    model = make_tiny_cnn()
    by_index = attribute(model, photo(), 7, size=32)
    by_label = attribute(model, photo(), "class7", size=32, labels=LABELS)
    assert by_label.target == 7 and by_label.target_name == "class7"
    np.testing.assert_array_equal(by_label.map, by_index.map)
    assert attribute(model, photo(), "CLASS7", size=32, labels=LABELS).target == 7
    # a torchvision weights member: its preprocessing and its categories
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    imagenet = attribute(make_tiny_cnn(num_classes=1000), photo(), "tabby", weights=weights)
    assert imagenet.target == 281 and imagenet.target_name == "tabby"
    assert imagenet.map.shape == (224, 224)
    model.config = SimpleNamespace(id2label={i: f"own{i}" for i in range(10)})
    try:
        own = attribute(model, photo(), "own3", size=32)
        assert own.target == 3 and own.target_name == "own3"
    finally:
        del model.config


def test_channel_target_is_named_and_scored_by_its_mean() -> None:
    model = make_tiny_cnn()
    prepared = prepare_image(photo(), model, size=32)
    result = attribute(model, prepared, ("conv2", 2), method="layercam", layer="conv1")
    mean = float(capture(model, prepared.batch, "conv2")["conv2"][0, 2].mean())
    assert result.target == ("conv2", 2) and result.target_name == "conv2:2"
    assert result.score == pytest.approx(mean, rel=1e-5)


def test_top_channels_and_pictures() -> None:
    model = make_tiny_cnn()
    result = attribute(model, photo(), 1, size=32)
    top = result.top_channels(4)
    assert [c for c, _ in top] == list(np.argsort(-result.channels, kind="stable")[:4])
    assert [v for _, v in top] == sorted((v for _, v in top), reverse=True)
    for png in (result.png(), result.png(overlay=False, cmap="viridis"), result.png(opacity=1.0)):
        decoded = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        assert decoded.shape == (32, 32, 3)
    overlay = result.overlay(opacity=0.5)
    assert overlay.shape == result.image.shape and not np.array_equal(overlay, result.image)
    np.testing.assert_array_equal(result.overlay(opacity=0.0), result.image)
    gradients = attribute(model, photo(), 1, size=32, method="saliency")
    with pytest.raises(ValueError, match="CAM method"):
        gradients.top_channels()
    with pytest.raises(ValueError, match="positive int"):
        result.top_channels(0)


def test_a_model_at_its_own_size_and_a_vit_without_reshape() -> None:
    torch.manual_seed(0)
    vit = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32,
        num_classes=5,
    )  # fmt: skip
    nn.init.normal_(vit.heads.head.weight)
    result = attribute(vit, photo())  # size None: the ViT's own 32 x 32
    assert result.layer == "encoder.layers.encoder_layer_0.ln_1"
    assert result.map.shape == (32, 32) and result.layer_map.shape == (4, 4)
    assert np.isfinite(result.map).all() and np.ptp(result.map) > 0


@pytest.mark.parametrize("method", METHODS)
def test_every_method_leaves_the_model_and_the_image_as_they_were(method: str) -> None:
    model = make_tiny_cnn().train()  # the caller's training mode comes back
    model.fc.weight.requires_grad_(False)
    model.conv1.weight.grad = torch.ones_like(model.conv1.weight)
    image = photo()
    copy_of_image = image.copy()
    before = model_state(model)
    options = {"batch_size": 4} if method == "scorecam" else {}
    result = attribute(model, image, 3, method=method, size=32, **options)
    assert_model_unchanged(model, before)
    np.testing.assert_array_equal(image, copy_of_image)
    assert result.map.shape == (32, 32) and np.isfinite(result.map).all()


def test_user_hooks_still_fire_and_a_tensor_image_is_untouched() -> None:
    model = make_tiny_cnn()
    calls: list[int] = []
    handle = model.conv2.register_forward_hook(lambda m, i, o: calls.append(1))
    image = torch.rand(3, 40, 40)
    original = image.clone()
    try:
        attribute(model, image, method="gradcam", size=32)
        during = len(calls)
        model(torch.zeros(1, 3, 32, 32))
        assert during >= 1 and len(calls) == during + 1  # fired during, and still registered
        assert len(model.conv2._forward_hooks) == 1
    finally:
        handle.remove()
    assert torch.equal(image, original)


BAD_CALLS = [
    ({"method": "gradcm"}, ValueError, "unknown attribution method 'gradcm'.*gradcam"),
    ({"target": 2.5}, TypeError, "target must be None"),
    ({"target": True}, TypeError, "target must be None"),
    ({"target": -1}, ValueError, "negative"),
    ({"target": 10}, ValueError, "out of range.*10 classes"),
    ({"target": ("conv2", 99)}, ValueError, "channel 99 is out of range.*16 channels"),
    ({"target": ("conv2",)}, TypeError, "layer name, channel index"),
    ({"target": ("nope", 1)}, ValueError, "unknown layer 'nope'"),
    ({"target": "cat"}, ValueError, "carries no class names.*labels="),
    ({"target": "clas7", "labels": LABELS}, ValueError, "unknown class name 'clas7'.*class7"),
    ({"labels": "abc"}, TypeError, "labels must be a sequence"),
    ({"layer": "fc"}, ValueError, "'fc' has no spatial map.*'relu2'"),
    ({"layer": "gap"}, ValueError, "no spatial map.*nearby.*'bn2', 'relu2'"),
    ({"layer": "conv"}, ValueError, "unknown layer 'conv'.*conv1"),
    ({"layer": 3}, TypeError, "layer must be a layer name"),
    ({"method": "saliency", "layer": "conv1"}, ValueError, "layer= is for the CAM family"),
    ({"steps": 4}, TypeError, "'gradcam' takes no option 'steps'; its options are: none"),
    ({"method": "occlusion", "sides": 4}, TypeError, "no option 'sides'.*window"),
    ({"method": "occlusion", "window": 99}, ValueError, "window <= 32"),
    ({"method": "scorecam", "batch_size": 0}, ValueError, "batch_size must be a positive"),
    ({"method": "integrated_gradients", "steps": "many"}, ValueError, "steps must be a positive"),
    ({"method": "smoothgrad", "noise": -1}, ValueError, "noise is a fraction"),
    ({"method": "occlusion", "baseline": "grey"}, TypeError, "baseline is a number"),
    ({"size": 2}, ValueError, "size must be an int of at least 8"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_CALLS)
def test_bad_input_is_a_clear_error_and_changes_nothing(kwargs, error, message) -> None:
    model = make_tiny_cnn().train()
    model.conv1.weight.grad = torch.zeros_like(model.conv1.weight)
    before = model_state(model)
    kwargs = {"size": 32, **kwargs}
    with pytest.raises(error, match=message):
        attribute(model, photo(), **kwargs)
    assert_model_unchanged(model, before)


def test_bad_images_and_models() -> None:
    with pytest.raises(TypeError, match="torch.nn.Module|nn.Module"):
        attribute("not a model", photo())
    with pytest.raises(TypeError, match="as an image"):
        attribute(make_tiny_cnn(), {"an": "image"})
    from featviz_widgets.engine import attribution_maps

    with pytest.raises(ValueError, match=r"one image: x must be a \[1, C, H, W\]"):
        attribution_maps(make_tiny_cnn(), torch.zeros(2, 3, 32, 32))


def test_a_model_without_class_scores_explains_channels_only() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1))
    with pytest.raises(ValueError, match=r"not class scores \[N, classes\].*target=\(layer"):
        attribute(model, photo(), size=16)
    result = attribute(model, photo(), ("2", 1), size=16, layer="0")
    assert result.target == ("2", 1) and result.map.shape == (16, 16)


@pytest.mark.pretrained
def test_mobilenet_v2_gradcam_looks_at_the_cat() -> None:
    """Grad-CAM of the top class on skimage's Chelsea puts more weight on the cat than around it.

    The whole photo (451 x 300, not centre-cropped, which would keep nothing but the face) is shown
    at 336 x 224. Drawn on a grid by hand: the cat's head fills the photo from the left edge to
    about x = 370 of 451, top to bottom (ears, eyes, muzzle, whiskers); right of x = 385 is the
    blurred room behind it. Per pixel, the map must be at least twice as strong on the cat.
    """
    from skimage.data import chelsea

    from featviz_widgets.inputs import IMAGENET_MEAN, IMAGENET_STD, PreparedImage

    weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
    model = torchvision.models.mobilenet_v2(weights=weights)
    shown = np.asarray(Image.fromarray(chelsea()).resize((336, 224), Image.BILINEAR)).copy()
    pixels = torch.from_numpy(shown).permute(2, 0, 1).float() / 255
    mean, std = (
        torch.tensor(IMAGENET_MEAN)[:, None, None],
        torch.tensor(IMAGENET_STD)[:, None, None],
    )
    prepared = PreparedImage(((pixels - mean) / std)[None], shown, IMAGENET_MEAN, IMAGENET_STD)
    before = model_state(model)
    result = attribute(model, prepared, weights=weights)
    assert_model_unchanged(model, before)
    assert result.layer == "features"
    assert "cat" in result.target_name, result.target_name  # tabby / tiger / Egyptian cat
    scale = 224 / 300
    cat = result.map[:, : int(370 * scale)]
    room = result.map[:, int(385 * scale) :]
    assert cat.mean() > 2 * room.mean(), (cat.mean(), room.mean())


def test_a_wrapped_model_is_explained_as_the_network_inside() -> None:
    """DataParallel (and torch.compile's wrapper) hand over the network inside: the same maps,
    and the wrapper is left as it was."""
    model = make_tiny_cnn().eval()
    wrapped = nn.DataParallel(model)
    before = model_state(wrapped)
    plain = attribute(model, photo(), 1, size=32)
    with pytest.warns(UserWarning, match="DataParallel"):
        inside = attribute(wrapped, photo(), 1, size=32)
    assert inside.layer == plain.layer and inside.target == plain.target == 1
    np.testing.assert_array_equal(inside.map, plain.map)
    assert_model_unchanged(wrapped, before)
