"""timm and Hugging Face transformers models through the engine, the layouts and the explorer.

Random weights, tiny configs: what each library's metadata tells featviz (input size, class names),
``ModelOutput`` keys in the naming grammar, class tokens and registers set aside, and the explorer
and ``maximize`` working with their defaults.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import timm
import torch
import transformers
from support import FixedSizeCNN, assert_model_unchanged, model_state
from sweep import example, image

from featviz_widgets import layout
from featviz_widgets.engine import capture, class_scores, owner_for, parse_key, survey
from featviz_widgets.optvis import MaximizeSettings, maximize
from featviz_widgets.widgets import LayerExplorer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

_VIT = {
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "image_size": 32,
    "patch_size": 8,
    "num_labels": 3,
}


def _hf_vit(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    config = transformers.ViTConfig(**{**_VIT, **overrides})
    return transformers.ViTForImageClassification(config)


# -- input size ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("vit_tiny_patch16_224", (48, 48)),  # patch_embed.img_size
        ("test_maxvit", (64, 64)),  # the model's img_size
        ("hiera_tiny_224", (64, 64)),  # tokens_spatial_shape x patch_stride
        ("swin_tiny_patch4_window7_224", (64, 64)),
    ],
)
def test_timm_fixed_size_is_read_from_the_model_as_built(name, size) -> None:
    model = timm.create_model(name, pretrained=False, img_size=size[0])
    assert owner_for(model).fixed_input_size() == size
    assert owner_for(timm.create_model("resnet18", pretrained=False)).fixed_input_size() is None


def test_a_fixed_size_claim_is_checked_by_one_probe_or_the_size_seen_running() -> None:
    # pretrained_cfg says "fixed, 224" and the model has no attribute saying more: one probe
    model = timm.create_model("efficientformer_l1", pretrained=False)
    owner = owner_for(model)
    assert owner.fixed_input_size() == (224, 224) and owner.accepts(224, example(8)) is None
    # built for 64 px, it keeps claiming 224: wrong, so nothing until a forward shows the size
    levit = timm.create_model("levit_128s", pretrained=False, img_size=64)
    assert owner_for(levit).fixed_input_size() is None
    survey(levit, example(64))
    assert owner_for(levit).fixed_input_size() == (64, 64)
    assert owner_for(FixedSizeCNN()).fixed_input_size() is None  # claims nothing: no probe


def test_transformers_config_gives_size_and_class_names() -> None:
    model = _hf_vit(id2label={0: "cat", 1: "dog", 2: "fox"})
    owner = owner_for(model)
    assert owner.fixed_input_size() == (32, 32)
    assert owner.class_names() == ["cat", "dog", "fox"]


# -- ModelOutput naming -------------------------------------------------------------------------
def test_model_outputs_are_named_like_dict_outputs() -> None:
    model = _hf_vit()
    acts = capture(model, example(32), ["vit"])
    assert list(acts) == ["vit['last_hidden_state']"]
    key = parse_key("vit['last_hidden_state']")
    assert key.name == "vit" and key.part == ("last_hidden_state",)
    found = survey(model, example(32))
    assert class_scores(found.output).shape == (1, 3)
    assert type(found.output).__name__ == "ImageClassifierOutput"


# -- token layouts ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("build", "hint"),
    [
        (lambda: timm.create_model("vit_small_patch14_reg4_dinov2", img_size=56), "tokens+5"),
        (lambda: timm.create_model("deit_tiny_distilled_patch16_224", img_size=64), "tokens+2"),
        (
            lambda: transformers.Dinov2WithRegistersModel(
                transformers.Dinov2WithRegistersConfig(**_VIT, num_register_tokens=4)
            ),
            "tokens+5",
        ),
        (lambda: transformers.DeiTModel(transformers.DeiTConfig(**_VIT)), "tokens+2"),
    ],
)
def test_class_token_and_registers_are_set_aside(build, hint) -> None:
    torch.manual_seed(0)
    model = build().eval()
    side = owner_for(model).fixed_input_size()[0]
    acts = capture(model, example(side), None, stop_early=False)
    hints = layout.layout_hints(model, acts)
    prefix = int(hint.split("+")[1])
    token_keys = [k for k, v in acts.items() if layout.hint_for(hints, k) == hint]
    assert len(token_keys) > 4, hints
    for key in token_keys:
        tokens = acts[key][0].numpy()
        view = layout.to_channel_maps(tokens, hint=hint)
        assert view.kind == "spatial" and view.prefix_tokens.shape == (prefix, tokens.shape[1])
        np.testing.assert_array_equal(view.maps.reshape(tokens.shape[1], -1).T, tokens[prefix:])
        assert view.maps.shape[1] * view.maps.shape[2] == tokens.shape[0] - prefix
    assert layout.channel_axis(hint) == -1


def test_timm_channels_last_stages_are_detected() -> None:
    model = timm.create_model("swin_tiny_patch4_window7_224", img_size=64).eval()
    acts = capture(model, example(64), None, stop_early=False)
    hints = layout.layout_hints(model, acts)
    nhwc = [k for k, t in acts.items() if t.dim() == 4 and t.shape[1] == t.shape[2]]
    assert nhwc and all(layout.hint_for(hints, k) == "channels_last" for k in nhwc), {
        k: hints.get(k) for k in nhwc
    }
    convnext = timm.create_model("test_convnext").eval()
    acts = capture(convnext, example(64), None, stop_early=False)
    hints = layout.layout_hints(convnext, acts)
    assert hints["stages.0.blocks.0.conv_dw"] == "channels_first"


# -- the explorer and maximize with their defaults ----------------------------------------------
def test_explorer_opens_at_the_declared_size_with_names_and_logits() -> None:
    model = _hf_vit(id2label={0: "cat", 1: "dog", 2: "fox"})
    before = model_state(model)
    explorer = LayerExplorer(model, image(80))  # no size=: config.image_size (32)
    try:
        assert explorer._data.input_size == (32, 32)
        explorer.tab = "Predictions"
        html = explorer.tab_object("predictions").html.value
        assert all(name in html for name in ("cat", "dog", "fox")) and "no class names" not in html
        explorer.layer = "vit.layers.0.mlp.fc1"
        explorer.tab = "Feature maps"
        assert "class token set aside" in explorer.tab_object("maps").caption.value
    finally:
        explorer.close()
    assert_model_unchanged(model, before)


def test_explorer_takes_a_processor_as_weights() -> None:
    model = _hf_vit()
    processor = transformers.ViTImageProcessor(size={"height": 32, "width": 32})
    explorer = LayerExplorer(model, image(80), weights=processor)
    try:
        assert explorer._data.prepared.mean == (0.5, 0.5, 0.5)
        assert explorer._data.input_size == (32, 32)
    finally:
        explorer.close()


def test_maximize_runs_with_defaults_on_a_fixed_size_timm_model_first_click() -> None:
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64)
    before = model_state(model)
    result = maximize(model, ("blocks.0.mlp.fc1", 0), settings=MaximizeSettings(steps=2))
    assert result.images[0].shape == (128, 128, 3)
    explorer = LayerExplorer(model, image(80))
    try:
        explorer.layer = "blocks.0.mlp.fc1"
        explorer.tab = "Maximize"
        tab = explorer.tab_object("maximize")
        tab.steps.value = tab.steps.min
        tab.run()  # the first click, at the default 128 px: resized to 64 for the model
        assert explorer.tab_object("maximize").wait(120).steps == tab.steps.min and "done" in tab.status.value
        assert "64x64 images only" in tab.size_note.value
    finally:
        explorer.close()
    assert_model_unchanged(model, before)


def test_class_maximize_reads_the_logits_of_a_model_output() -> None:
    """Class pictures on a Hugging Face classifier: the objective reads ``output.logits``."""
    from featviz_widgets import objectives

    config = transformers.ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=3,
    )  # fmt: skip
    model = transformers.ViTForImageClassification(config).eval()
    before = model_state(model)
    result = maximize(model, objectives.class_logit(1), settings=MaximizeSettings(steps=2, size=32))
    assert result.steps == 2 and result.images[0].shape == (32, 32, 3)
    assert_model_unchanged(model, before)
