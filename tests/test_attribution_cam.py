"""The CAM family against pytorch-grad-cam (``grad-cam`` 1.5.7), the reference implementation.

The reference gets the target layer (and, for a ViT, the ``reshape_transform`` its tutorial writes
by hand); ours gets neither or just the layer name. Both maps go through the reference's own
normalization and resize (``scale_cam_image``, twice, as its ``__call__`` does) and must agree
within 1e-4. The reference runs on a deep copy: it calls ``model.eval()``, fills ``.grad`` and
keeps hooks until its context ends, none of which may touch the model ours runs on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torchvision
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from support import assert_model_unchanged, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets.engine import attribution_maps

REFERENCES = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "hirescam": HiResCAM,
    "layercam": LayerCAM,
    "scorecam": ScoreCAM,
}
TOLERANCE = 1e-4


def reference_cam(
    method: str,
    model: nn.Module,
    layer: str,
    x: torch.Tensor,
    target: int,
    reshape: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> np.ndarray:
    """pytorch-grad-cam's map ``[H, W]`` (normalized to 0..1, at the input's size)."""
    twin = copy.deepcopy(model)
    with REFERENCES[method](
        model=twin, target_layers=[twin.get_submodule(layer)], reshape_transform=reshape
    ) as cam:
        return cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(target)])[0]


def as_reference(layer_map: np.ndarray, x: torch.Tensor) -> np.ndarray:
    """Our layer map through the reference's normalization and resize."""
    size = (int(x.shape[-1]), int(x.shape[-2]))
    return scale_cam_image(scale_cam_image(layer_map[None], size))[0]


def assert_matches_reference(
    model: nn.Module,
    x: torch.Tensor,
    method: str,
    reference_layer: str,
    *,
    layer: str | None = None,
    reshape: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> None:
    before = model_state(model)
    ours = attribution_maps(model, x, method=method, layer=layer)
    assert_model_unchanged(model, before)
    with torch.no_grad():
        top = int(model(x).argmax(1)[0])
    assert ours.target == top  # target=None explains the top class
    expected = reference_cam(method, model, reference_layer, x, top, reshape)
    got = as_reference(ours.layer_map, x)
    assert expected.shape == got.shape == tuple(x.shape[-2:])
    assert np.ptp(expected) > 0.5, "a flat reference map would prove nothing"
    np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("method", list(REFERENCES))
def test_tiny_cnn_matches_pytorch_grad_cam(method: str) -> None:
    model = make_tiny_cnn()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert_matches_reference(model, x, method, "relu2")  # relu2: the default, found by ours


@pytest.mark.parametrize("method", list(REFERENCES))
def test_resnet18_matches_pytorch_grad_cam(method: str) -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    x = torch.randn(1, 3, 112, 112, generator=torch.Generator().manual_seed(2))
    assert attribution_maps(model, x).layer == "layer4"
    # layer4's output is its last block's: the layer the reference's README targets
    assert_matches_reference(model, x, method, "layer4.1")


def tiny_vit() -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
        num_classes=10,
    )  # fmt: skip
    nn.init.normal_(model.heads.head.weight)  # torchvision starts the head at zero: no gradient
    return model.eval()


def vit_reshape(tensor: torch.Tensor, height: int = 4, width: int = 4) -> torch.Tensor:
    """The reshape_transform pytorch-grad-cam's ViT tutorial writes by hand."""
    result = tensor[:, 1:, :].reshape(tensor.size(0), height, width, tensor.size(2))
    return result.transpose(2, 3).transpose(1, 2)


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "hirescam", "layercam", "scorecam"])
def test_vit_needs_no_layer_and_no_reshape(method: str) -> None:
    model = tiny_vit()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    ours = attribution_maps(model, x, method=method)
    # The head reads only the class token: the last block's input norm is where patch tokens
    # still reach it, the layer the reference's tutorial names for ViTs.
    assert ours.layer == "encoder.layers.encoder_layer_1.ln_1"
    assert ours.layer_map.shape == (4, 4) and ours.channels.shape == (32,)
    assert_matches_reference(
        model, x, method, "encoder.layers.encoder_layer_1.ln_1", reshape=vit_reshape
    )


def test_swin_channels_last_layer_needs_no_reshape() -> None:
    torch.manual_seed(0)
    model = torchvision.models.swin_t().eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    ours = attribution_maps(model, x)
    assert ours.layer == "permute"  # the last map before the pool, laid out NCHW by the model

    def channels_first(tensor: torch.Tensor) -> torch.Tensor:  # the reference's hand-written one
        return tensor.permute(0, 3, 1, 2)

    # A block's norm emits [N, H, W, C]: ours reads it channels-last by itself.
    for method in ("gradcam", "hirescam"):
        assert_matches_reference(
            model, x, method, "features.7.1.norm1", layer="features.7.1.norm1",
            reshape=channels_first,
        )  # fmt: skip


def test_channels_are_the_terms_that_make_the_cam() -> None:
    model = make_tiny_cnn()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    for method in REFERENCES:
        result = attribution_maps(model, x, method=method)
        assert result.channels.shape == (16,)
        # mean(sum_c term_c) <= mean(relu(sum_c term_c)), equal when nothing was clipped
        assert result.channels.sum() <= result.layer_map.mean() + 1e-6
        if method == "layercam":  # relu(grad) * relu(act): every term is >= 0, none clipped
            np.testing.assert_allclose(result.channels.sum(), result.layer_map.mean(), rtol=1e-5)


def test_map_is_the_layer_map_upsampled_bilinearly() -> None:
    model = make_tiny_cnn()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    result = attribution_maps(model, x, method="gradcam", layer="conv1")
    assert result.layer_map.shape == (32, 32)  # conv1 keeps the input's resolution
    np.testing.assert_allclose(result.map, result.layer_map, atol=1e-6)
    coarse = attribution_maps(model, x, method="gradcam")
    upsampled = torch.nn.functional.interpolate(
        torch.from_numpy(coarse.layer_map)[None, None], size=(32, 32), mode="bilinear"
    )[0, 0].numpy()
    np.testing.assert_allclose(coarse.map, upsampled, atol=1e-6)


def test_channel_target_explains_that_channels_mean() -> None:
    model = make_tiny_cnn()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    result = attribution_maps(model, x, ("conv2", 3), method="gradcam", layer="conv1")
    assert result.target == ("conv2", 3)
    # Grad-CAM by hand: the gradient of conv2's channel 3 mean with respect to conv1's maps
    twin = copy.deepcopy(model)
    conv1 = twin.conv1(x).detach().requires_grad_(True)
    score = twin[1:5](conv1)[0, 3].mean()
    (grads,) = torch.autograd.grad(score, conv1)
    weights = grads[0].mean(dim=(1, 2))
    expected = (weights[:, None, None] * conv1[0]).sum(0).clamp(min=0).detach().numpy()
    assert result.score == pytest.approx(float(score.detach()), rel=1e-5)
    np.testing.assert_allclose(result.layer_map, expected, rtol=1e-5, atol=1e-7)
    # the default layer is one that runs before the explained channel, or its own
    default = attribution_maps(model, x, ("conv2", 3)).layer
    assert default in {"conv1", "bn1", "relu1", "pool", "conv2"}


def test_timm_vit_matches_the_reference_tutorial_with_its_reshape() -> None:
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64, num_classes=7)
    nn.init.normal_(model.head.weight, generator=torch.Generator().manual_seed(0))
    model.eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(8))
    # the tutorial's layer (model.blocks[-1].norm1), found without being named
    assert attribution_maps(model, x).layer == "blocks.11.norm1"
    assert_matches_reference(model, x, "gradcam", "blocks.11.norm1", reshape=vit_reshape)


def test_hugging_face_vit_steps_back_to_the_last_norm_before_attention() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(
        image_size=32, patch_size=8, num_hidden_layers=2, hidden_size=32, num_attention_heads=2,
        intermediate_size=64, num_labels=3,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.ViTForImageClassification(config).eval()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    layer = next(n for n, m in model.named_modules() if n.endswith("1.layernorm_before"))
    # not the value projection inside attention, as wide as the token stream and later
    ours = attribution_maps(model, x)
    assert ours.layer == layer and ours.layer_map.shape == (4, 4)
    with torch.no_grad():
        top = int(model(x).logits.argmax(1)[0])
    assert ours.target == top and np.ptp(ours.layer_map) > 0
