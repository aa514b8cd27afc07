"""The engine under attribution: the recording it reads layers through, and the targets of
detection and segmentation models (references: autograd through the plain model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import assert_model_unchanged, hook_count, make_tiny_cnn, model_state
from torch import nn

from featviz_widgets.engine import Recording, RecordingError, owner_for


def _image(size: int = 16, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_a_recording_by_reference_gives_gradients_of_the_output_for_its_layers() -> None:
    model = make_tiny_cnn()
    model.train()
    before = model_state(model)
    x = _image()
    recording = Recording(model, ["bn1", "conv2"], keep_graph=True, by_reference=True)
    with owner_for(model).using(), torch.enable_grad():
        outputs, logits = recording.with_output(x)
        grads = torch.autograd.grad(logits[:, 4].sum(), [outputs["bn1"], outputs["conv2"]])
    assert hook_count(model) == 0
    assert_model_unchanged(model, before)
    # The reference: the same forward written out by hand, gradients through the plain model.
    # bn1 is read after the in-place ReLU that follows it: by reference, values and gradients
    # are those of the ReLU's output.
    model.eval()
    with torch.no_grad():
        relu1 = model.relu1(model.bn1(model.conv1(x)))
    relu1.requires_grad_(True)
    conv2 = model.conv2(model.pool(relu1))
    logits_by_hand = model.fc(model.flatten(model.gap(model.relu2(model.bn2(conv2)))))
    model.train()
    ref_bn1, ref_conv2 = torch.autograd.grad(logits_by_hand[:, 4].sum(), [relu1, conv2])
    torch.testing.assert_close(logits.detach(), logits_by_hand.detach())
    torch.testing.assert_close(outputs["bn1"].detach(), relu1.detach(), rtol=0, atol=0)
    assert bool((outputs["bn1"] == 0).any())  # the ReLU's zeros: read after it
    torch.testing.assert_close(grads[0], ref_bn1, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grads[1], ref_conv2, rtol=1e-5, atol=1e-7)


def test_with_output_returns_the_models_own_output_and_refuses_value_recordings() -> None:
    class Segmenter(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"out": self.conv(x)}

    model = Segmenter().eval()
    recording = Recording(model, ["conv"], keep_graph=True, by_reference=True)
    with owner_for(model).using(), torch.enable_grad():
        outputs, output = recording.with_output(_image(size=6))
    assert set(output) == {"out"} and output["out"] is outputs["conv"]  # the very tensor
    with pytest.raises(RecordingError, match="pass keep_graph=True too"):
        Recording(model, ["conv"], by_reference=True)
    with pytest.raises(RecordingError, match="recorded with keep_graph=True"):
        Recording(model, ["conv"]).with_output(_image(size=6))


def _gradcam_by_hand(model: nn.Module, x, layer: str, score_of) -> torch.Tensor:
    """Grad-CAM written out: a forward hook keeps the layer's output, autograd does the rest."""
    kept = {}
    handle = model.get_submodule(layer).register_forward_hook(
        lambda module, args, output: kept.setdefault("maps", output)
    )
    try:
        with torch.enable_grad():
            output = model(x)
            (grad,) = torch.autograd.grad(score_of(output), kept["maps"])
    finally:
        handle.remove()
    maps = kept["maps"].detach()[0]
    return (grad[0].mean(dim=(1, 2))[:, None, None] * maps).sum(0).clamp(min=0)


def test_a_detection_box_is_explained_by_its_class_score() -> None:
    from torchvision.models import detection

    from featviz_widgets.attribution import attribute, faithfulness
    from featviz_widgets.inputs import prepare_image

    torch.manual_seed(0)
    model = detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, box_score_thresh=0.0
    )  # random weights score every class ~1/91: a threshold at 0 keeps boxes to explain
    picture = (torch.rand(96, 96, 3, generator=torch.Generator().manual_seed(2)) * 255).byte()
    before = model_state(model)
    result = attribute(model, picture.numpy(), box=2, size=96)
    assert_model_unchanged(model, before)
    assert result.box == 2 and result.layer == "backbone.fpn.layer_blocks.0"
    model.eval()
    x = prepare_image(picture.numpy(), model, size=96).batch
    with torch.no_grad():
        found = model(list(x))[0]
    rank = int(torch.argsort(-found["scores"], stable=True)[2])
    assert result.target == int(found["labels"][rank])
    assert result.score == pytest.approx(float(found["scores"][rank]), rel=1e-5)
    expected = _gradcam_by_hand(
        model, list(x), result.layer, lambda output: output[0]["scores"][rank]
    )
    model.train()  # as it came (the comparison at the end checks the flags)
    scale = float(expected.abs().max())
    assert scale > 0
    np.testing.assert_allclose(result.layer_map, expected.numpy(), rtol=1e-4, atol=1e-4 * scale)
    # Faithfulness reads the same box's score (matched by class and overlap on each image).
    curve = faithfulness(model, picture.numpy(), result, steps=2, size=96).deletion_curve
    assert curve[0] == pytest.approx(result.score, rel=1e-5)
    with pytest.raises(ValueError, match="box 500 is out of range: the model detected"):
        attribute(model, picture.numpy(), box=500, size=96)
    with pytest.raises(ValueError, match="pass box=i"):
        attribute(model, picture.numpy(), 3, size=96)
    with pytest.raises(ValueError, match="box= explains a detection model's boxes"):
        attribute(make_tiny_cnn(), picture.numpy(), box=0, size=32)
    assert_model_unchanged(model, before)


def test_a_segmentation_class_is_explained_by_its_pixels_scores_summed() -> None:
    from torchvision.models import segmentation

    from featviz_widgets.attribution import attribute
    from featviz_widgets.inputs import prepare_image

    torch.manual_seed(0)
    model = segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None).eval()
    picture = (torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(4)) * 255).byte()
    before = model_state(model)
    result = attribute(model, picture.numpy(), size=64)
    assert_model_unchanged(model, before)
    x = prepare_image(picture.numpy(), model, size=64).batch
    with torch.no_grad():
        scores = model(x)["out"][0]
    predicted = scores.argmax(0)
    counts = torch.bincount(predicted.flatten(), minlength=21)
    assert result.target == int(counts[1:].argmax()) + 1  # the class on most pixels
    assert result.layer == "classifier.cbr"  # the per-pixel class scores are not explanations
    mask = predicted == result.target
    assert result.score == pytest.approx(float(scores[result.target][mask].sum()), rel=1e-4)
    expected = _gradcam_by_hand(
        model, x, result.layer, lambda output: (output["out"][0, result.target] * mask).sum()
    )
    scale = float(expected.abs().max())
    np.testing.assert_allclose(result.layer_map, expected.numpy(), rtol=1e-4, atol=1e-4 * scale)
    absent = int((counts == 0).nonzero()[0])
    with pytest.raises(ValueError, match=f"class {absent} is predicted on no pixel"):
        attribute(model, picture.numpy(), absent, size=64)


def test_a_score_that_ignores_the_image_is_a_clear_error() -> None:
    from featviz_widgets.attribution import attribute

    model = make_tiny_cnn()
    with torch.no_grad():
        model.fc.weight.zero_()  # as torchvision's ViTs start: every image scores alike
    before = model_state(model)
    picture = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(
        ValueError, match="does not depend on the image.*target=\\(layer, channel\\)"
    ):
        attribute(model, picture, size=16)
    assert_model_unchanged(model, before)
    assert attribute(model, picture, ("conv2", 1), size=16).layer == "conv2"
