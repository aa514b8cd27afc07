"""The engine under attribution: the recording it reads layers through, and the targets of
detection and segmentation models (references: autograd through the plain model)."""

from __future__ import annotations

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
