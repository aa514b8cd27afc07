"""Models as users hand them over, part two: what can be maximized, video from the standard
transforms, layers that ignore the image, and a fuzz over hostile models and inputs.

Every case runs as a user would (``LayerExplorer``, its Maximize tab, ``maximize``, ``capture``)
and ends with the state promise (no hooks left, flags and tensors bit-identical).
"""

from __future__ import annotations

import html
import warnings

import numpy as np
import pytest
import torch
import transformers
from PIL import Image
from support import assert_model_unchanged, make_tiny_cnn, model_state
from torch import nn
from torchvision.models import video
from widgets_support import CAT, maximizer_tab
from zoo import _SWIN

from featviz_widgets.engine import capture
from featviz_widgets.inputs import prepare_image
from featviz_widgets.optvis import MaximizeSettings, maximize
from featviz_widgets.optvis.targets import layer_to_maximize, maximizable_channels
from featviz_widgets.widgets import LayerExplorer

SETTINGS = MaximizeSettings(steps=2, size=32, preset="lucid", seed=0)


# -- what can be maximized ---------------------------------------------------------------------


def teaching_cnn() -> nn.Sequential:
    """Two 3x3 convs, a pooling layer and a linear head: the smallest CNN of a first course."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    ).eval()  # fmt: skip


def test_the_one_rule_of_what_can_be_maximized() -> None:
    assert maximizable_channels((1, 8, 1, 1), 1) == 8  # a pooled channel: its mean
    assert maximizable_channels((1, 8, 5, 5), 1) == 8
    assert maximizable_channels((1, 49, 96), -1) == 96  # tokens, channels last
    assert maximizable_channels((1, 10), 1) is None  # a vector: no positions
    assert maximizable_channels((4, 96, 8, 14, 14), 1) == 96  # heads folded into the batch
    assert maximizable_channels((1, 8, 4, 4), 0) is None  # the batch axis is not a channel axis


def test_a_teaching_cnn_maximizes_on_the_first_click() -> None:
    model = teaching_cnn()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=96)
    tab = maximizer_tab(ex, steps=3)
    # 3x3 and 5x5 of 96 px are too little: the rule moves to the pooled 8x1x1 layer, and keeps it
    assert "showing 4" in tab.why.value
    assert "press Run to maximize 4 channel" in html.unescape(tab.status.value)
    tab.run()
    result = tab.wait(60)
    assert result.steps == tab.steps.value and np.isfinite(result.history).all()
    assert "done: 4 channel" in html.unescape(tab.status.value)
    direct = maximize(model, ("4", 2), settings=SETTINGS)  # the library agrees: a channel's mean
    assert direct.history[-1] > direct.history[0]
    ex.layer = "4"
    ex.channel = 5
    assert "press Run to maximize 4 channel 5 " in html.unescape(tab.status.value)
    ex.close()
    assert_model_unchanged(model, before)


def small_swin() -> nn.Module:
    torch.manual_seed(0)
    config = transformers.SwinConfig(**_SWIN)
    return transformers.SwinForImageClassification(config).eval()


def test_a_layer_that_ignores_the_image_is_never_a_default_target() -> None:
    model = small_swin()
    before = model_state(model)
    ex = LayerExplorer(model, CAT, size=32)
    ex._panel.filter.value = "all"
    tables = [n for n in ex.layers if n.endswith("relative_position_bias")]
    assert tables, ex.layers
    first = "swin.embeddings.patch_embeddings.projection"
    names = [n for n in ex.layers if n in ex._data.infos]
    with ex._data.using():
        choice = layer_to_maximize(ex._data.model, first, 224, names)
        assert choice.layer not in tables
        later = names[names.index(tables[0]) - 1]  # the layer just before a bias table
        assert layer_to_maximize(ex._data.model, later, 224, names).layer not in tables
    tab = maximizer_tab(ex, steps=2)
    ex.layer = tables[0]
    refusal = "does not depend on the input pixels (e.g. a position-bias table)"
    assert refusal in html.unescape(tab.status.value)  # said up front, not after a run
    with pytest.raises(ValueError, match=r"does not depend on the input pixels"):
        maximize(model, (tables[0], 0), settings=SETTINGS)
    ex.close()
    assert_model_unchanged(model, before)


# -- video from the standard transforms --------------------------------------------------------


def tiny_video_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(3, 4, (3, 3, 3), padding=(0, 1, 1)), nn.ReLU(),
        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 5),
    ).eval()  # fmt: skip


def test_a_c_t_h_w_tensor_is_read_as_a_clip_without_clip_true() -> None:
    frames = torch.randint(0, 256, (4, 3, 128, 160), dtype=torch.uint8)  # (T, C, H, W) decoded
    transforms = video.R3D_18_Weights.KINETICS400_V1.transforms()
    normalized = transforms(frames)  # (C, T, H, W), as torchvision's video weights give it
    assert tuple(normalized.shape) == (3, 4, 112, 112)
    model = tiny_video_net()
    before = model_state(model)
    # the layout is no longer in doubt; the normalization is, and the message says so
    with pytest.raises(ValueError, match="looks normalized; pass the raw image"):
        prepare_image(normalized, model, size=112)
    raw = frames.permute(1, 0, 2, 3).float() / 255  # the same clip, (C, T, H, W), 0..1 pixels
    kept = raw.clone()
    as_read = prepare_image(raw, model, size=112)
    told = prepare_image(raw, model, size=112, clip=True)
    assert torch.equal(as_read.batch, told.batch) and as_read.frames.shape[0] == 4
    ex = LayerExplorer(model, raw, size=112)
    assert ex.error is None and ex._data.frame_count == 4
    assert ex.tab_object("maps").image.value
    assert torch.equal(raw, kept)  # the caller's tensor is not modified
    ex.close()
    assert_model_unchanged(model, before)


# -- hostile models and inputs -----------------------------------------------------------------


class Raising(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.conv(x)
        raise KeyError("the model's own bug")


class ReturnsNone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> None:
        self.conv(x)


def _scripted() -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.script(make_tiny_cnn())


RGB = np.asarray(CAT)
HOSTILE = {
    # name: (model factory, image, the error it must raise: None for a working explorer)
    "raising forward": (Raising, RGB, (RuntimeError, r"forward failed .* KeyError")),
    "returns None": (ReturnsNone, RGB, None),
    "lazy linear": (
        lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(3)),
        RGB, (TypeError, "run the model once on an input"),
    ),
    "lazy conv": (lambda: nn.Sequential(nn.LazyConv2d(4, 3)), RGB, (TypeError, "run the model once")),
    "scripted": (_scripted, RGB, (TypeError, "explore the eager nn.Module")),
    "compiled": (lambda: torch.compile(make_tiny_cnn()), RGB, None),
    "data parallel": (lambda: nn.DataParallel(make_tiny_cnn()), RGB, None),
    "gray model, RGB photo": (lambda: make_tiny_cnn(1), RGB, None),
    "RGB model, gray photo": (make_tiny_cnn, RGB.mean(-1).astype(np.uint8), None),
    "RGB model, RGBA photo": (make_tiny_cnn, Image.fromarray(RGB).convert("RGBA"), None),
    "4-channel model": (lambda: make_tiny_cnn(4), RGB, (ValueError, "takes 4 input channels")),
    "half": (lambda: make_tiny_cnn().half(), RGB, None),
    "bfloat16": (lambda: make_tiny_cnn().to(torch.bfloat16), RGB, None),
    "half image tensor": (make_tiny_cnn, torch.rand(3, 40, 40).half(), None),
    "no layers": (nn.Sequential, RGB, (ValueError, "no layers")),
}  # fmt: skip


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_models_get_a_clear_error_or_a_working_explorer(case) -> None:
    build, image, expected = HOSTILE[case]
    model = build()
    lazy = [p for p in model.parameters() if nn.parameter.is_lazy(p)]
    before = None if lazy else model_state(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the one-line note about a wrapper
        if expected is not None:
            kind, words = expected
            with pytest.raises(kind, match=words):
                LayerExplorer(model, image, size=32)
        else:
            ex = LayerExplorer(model, image, size=32)
            ex._panel.filter.value = "all"
            for layer in ex.layers:
                ex.layer = layer
                assert ex.error is None, (layer, ex.error)
            assert ex.tab_object("maps").image.value
            ex.close()
    if lazy:  # not initialized behind the user's back (no state to compare before that)
        assert all(nn.parameter.is_lazy(p) for p in lazy)
    else:
        assert_model_unchanged(model, before)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_models_capture_and_maximize(dtype) -> None:
    model = make_tiny_cnn().to(dtype)
    before = model_state(model)
    x = torch.rand(1, 3, 32, 32)
    acts = capture(model, x, ["conv2"])
    assert acts["conv2"].dtype == dtype and torch.isfinite(acts["conv2"].float()).all()
    result = maximize(model, ("conv2", 1), settings=SETTINGS)
    assert result.steps == 2 and np.isfinite(result.history).all()
    assert_model_unchanged(model, before)
