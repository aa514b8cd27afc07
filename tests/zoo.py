"""The timm and Hugging Face transformers models of the sweep (tests/test_all_models.py).

One small member per family, random weights, built as small as the family allows: fixed-size
timm models at ``img_size=64`` (``TIMM_SIDE``), transformers models from tiny configs (a few
layers, 16-64 features). ``fast`` marks the subset a plain ``pytest`` runs; ``FEATVIZ_SWEEP=full``
(or ``CI=true`` through scripts/run_tests.sh) runs them all.

Neither library is imported here: the lists are plain data, and a model is built only by the test
that covers it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TIMM_SIDE = 64  # input side for the sweep: every family below runs at 64 px (or says why not)


@dataclass(frozen=True)
class TimmCase:
    """``timm.create_model(name, pretrained=False, **kwargs)`` fed ``side`` px images."""

    name: str
    kwargs: dict = field(default_factory=dict)
    side: int = TIMM_SIDE
    fast: bool = False
    why: str = ""
    warm_up: bool = False  # the model fills a buffer on its own first forward (see sweep.py)


_SMALL = {"img_size": TIMM_SIDE}  # fixed-size families: built for 64 px instead of 224
_FIXED = "fixed size: built with img_size=64"

TIMM: tuple[TimmCase, ...] = (
    # CNNs
    TimmCase("resnet18"),
    TimmCase("test_resnet", fast=True),
    TimmCase("resnetv2_18"),
    TimmCase("regnetx_002"),
    TimmCase("regnety_002"),
    TimmCase("efficientnet_b0"),
    TimmCase("test_efficientnet"),
    TimmCase("mobilenetv3_small_050"),
    TimmCase("mobilenetv4_conv_small"),
    TimmCase("convnext_atto"),
    TimmCase("test_convnext", fast=True),
    TimmCase("convnextv2_atto"),
    TimmCase("ghostnet_050"),
    TimmCase("ghostnetv2_100"),
    TimmCase("lcnet_035"),
    TimmCase("densenet121"),
    TimmCase("dla34"),
    TimmCase("dpn48b"),
    TimmCase("hrnet_w18_small"),
    TimmCase("cs3darknet_focus_s"),
    TimmCase("res2net50_14w_8s"),
    TimmCase("resnest14d"),
    TimmCase("skresnet18"),
    TimmCase("rexnet_100"),
    TimmCase("selecsls42b"),
    TimmCase("tinynet_e"),
    TimmCase("mnasnet_small"),
    TimmCase("fbnetv3_b"),
    TimmCase("repvit_m0_9"),
    TimmCase("repghostnet_050"),
    TimmCase("inception_v3", side=96, why="needs at least 75 px"),
    TimmCase("xception41"),
    TimmCase("nf_regnet_b0"),
    TimmCase("test_nfnet"),
    TimmCase("ese_vovnet19b_dw"),
    TimmCase("hgnetv2_b0"),
    TimmCase("fasternet_t0"),
    TimmCase("rdnet_tiny"),
    TimmCase("test_byobnet"),
    TimmCase("lambda_resnet26t"),
    TimmCase("botnet26t_256", _SMALL, why=_FIXED),
    # hybrids, metaformers, mobile transformers
    TimmCase("fastvit_t8"),
    TimmCase("mobilevit_xxs"),
    TimmCase("mobilevitv2_050"),
    TimmCase("edgenext_xx_small"),
    TimmCase("efficientformerv2_s0", _SMALL, why=_FIXED),
    TimmCase("efficientvit_b0"),
    TimmCase("efficientvit_m0", _SMALL, why=_FIXED),
    TimmCase("levit_128s", _SMALL, why=_FIXED),
    TimmCase("pvt_v2_b0"),
    TimmCase("poolformerv2_s12"),
    TimmCase("caformer_s18"),
    TimmCase("inception_next_atto"),
    TimmCase("starnet_s050"),
    TimmCase("test_mambaout"),
    TimmCase("shvit_s1"),
    TimmCase("coat_lite_tiny", _SMALL, why=_FIXED),
    TimmCase("twins_svt_small", _SMALL, why=_FIXED),
    TimmCase("davit_tiny"),
    TimmCase("gcvit_xxtiny", _SMALL, why=_FIXED),
    TimmCase("focalnet_tiny_srf"),
    TimmCase("tiny_vit_5m_224"),
    TimmCase("visformer_tiny", _SMALL, why=_FIXED),
    TimmCase("test_coatnet", _SMALL, fast=True, why=_FIXED),
    TimmCase("test_maxvit", _SMALL, fast=True, why=_FIXED + "; window partitions"),
    TimmCase("maxvit_tiny_rw_224", _SMALL, why=_FIXED + "; window partitions"),
    # vision transformers
    TimmCase("test_vit", _SMALL, fast=True, why=_FIXED),
    TimmCase("vit_tiny_patch16_224", _SMALL, why=_FIXED),
    TimmCase(
        "deit_tiny_distilled_patch16_224", _SMALL, fast=True, why=_FIXED + "; 2 prefix tokens"
    ),
    TimmCase("vit_small_patch14_reg4_dinov2", _SMALL, fast=True, why=_FIXED + "; 4 registers"),
    TimmCase(
        "vit_medium_patch16_reg1_gap_256", _SMALL, why=_FIXED + "; 1 register, no class token"
    ),
    TimmCase("eva02_tiny_patch14_224", _SMALL, why=_FIXED),
    TimmCase("test_vit_relpos", _SMALL, why=_FIXED),
    TimmCase("flexivit_small", _SMALL, why=_FIXED),
    TimmCase("cait_xxs24_224", _SMALL, why=_FIXED),
    TimmCase(
        "convit_tiny",
        _SMALL,
        why=_FIXED + "; builds its rel_indices buffer on its first forward",
        warm_up=True,
    ),
    TimmCase("xcit_nano_12_p16_224", _SMALL, why=_FIXED),
    TimmCase("pit_ti_224", _SMALL, why=_FIXED),
    TimmCase("vit_tiny_r_s16_p8_224", _SMALL, why=_FIXED + "; ResNet stem"),
    TimmCase("volo_d1_224", _SMALL, why=_FIXED),
    TimmCase("nest_tiny", _SMALL, why=_FIXED),
    TimmCase("tnt_s_patch16_224", _SMALL, why=_FIXED),
    TimmCase("mvitv2_tiny", _SMALL, why=_FIXED),
    TimmCase("hiera_tiny_224", _SMALL, fast=True, why=_FIXED + "; size read from its token grid"),
    TimmCase("swin_tiny_patch4_window7_224", _SMALL, fast=True, why=_FIXED + "; channels last"),
    TimmCase("swinv2_cr_tiny_224", _SMALL, why=_FIXED + "; channels last"),
    TimmCase("crossvit_tiny_240", side=240, why="declares 240 px (img_size= not accepted)"),
    TimmCase("efficientformer_l1", side=224, why="fixed 224 px (no img_size=)"),
    # MLPs
    TimmCase("mixer_s32_224", _SMALL, why=_FIXED),
    TimmCase("gmlp_ti16_224", _SMALL, why=_FIXED),
    TimmCase("resmlp_12_224", _SMALL, why=_FIXED),
    TimmCase("sequencer2d_s", _SMALL, why=_FIXED),
)


@dataclass(frozen=True)
class HFCase:
    """``transformers.<model>(transformers.<config>(**config))`` fed ``side`` px images."""

    model: str
    config: str
    kwargs: dict
    side: int = 32
    fast: bool = False
    classifier: bool = True  # returns logits (Predictions shows classes)
    why: str = ""


_VIT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "image_size": 32,
    "patch_size": 8,
    "num_labels": 10,
}
_STAGES = {"hidden_sizes": [8, 16, 32, 64], "depths": [1, 1, 1, 1], "num_labels": 10}
_SWIN = {
    "image_size": 32,
    "patch_size": 2,
    "embed_dim": 16,
    "depths": [1, 1],
    "num_heads": [2, 2],
    "window_size": 4,
    "num_labels": 10,
}

HF: tuple[HFCase, ...] = (
    HFCase("ViTForImageClassification", "ViTConfig", _VIT, fast=True),
    HFCase("DeiTForImageClassificationWithTeacher", "DeiTConfig", _VIT, why="2 prefix tokens"),
    HFCase("BeitForImageClassification", "BeitConfig", _VIT),
    HFCase("Data2VecVisionForImageClassification", "Data2VecVisionConfig", _VIT),
    HFCase("Dinov2ForImageClassification", "Dinov2Config", _VIT),
    HFCase(
        "Dinov2WithRegistersForImageClassification",
        "Dinov2WithRegistersConfig",
        {**_VIT, "num_register_tokens": 4},
        fast=True,
        why="4 registers",
    ),
    HFCase("ViTMSNForImageClassification", "ViTMSNConfig", _VIT),
    HFCase("CLIPVisionModel", "CLIPVisionConfig", _VIT, classifier=False, why="no logits"),
    HFCase("SiglipVisionModel", "SiglipVisionConfig", _VIT, classifier=False, why="no logits"),
    HFCase(
        "ConvNextForImageClassification", "ConvNextConfig", {**_STAGES, "image_size": 32}, fast=True
    ),
    HFCase("ConvNextV2ForImageClassification", "ConvNextV2Config", {**_STAGES, "image_size": 32}),
    HFCase(
        "ResNetForImageClassification",
        "ResNetConfig",
        {
            "embedding_size": 16,
            "hidden_sizes": [16, 32, 64, 128],
            "depths": [1, 1, 1, 1],
            "layer_type": "basic",
            "num_labels": 10,
        },
    ),
    HFCase(
        "RegNetForImageClassification",
        "RegNetConfig",
        {
            "embedding_size": 16,
            "hidden_sizes": [16, 32, 64, 128],
            "depths": [1, 1, 1, 1],
            "groups_width": 8,
            "num_labels": 10,
        },
    ),
    HFCase("SwinForImageClassification", "SwinConfig", _SWIN, fast=True, why="channels last"),
    HFCase("Swinv2ForImageClassification", "Swinv2Config", _SWIN),
    HFCase("FocalNetForImageClassification", "FocalNetConfig", {**_SWIN, "hidden_sizes": [16, 32]}),
    HFCase(
        "SegformerForImageClassification",
        "SegformerConfig",
        {
            "num_encoder_blocks": 2,
            "depths": [1, 1],
            "sr_ratios": [2, 1],
            "hidden_sizes": [16, 32],
            "num_attention_heads": [1, 2],
            "num_labels": 10,
        },
    ),
    HFCase(
        "MobileViTForImageClassification",
        "MobileViTConfig",
        {
            "image_size": 64,
            "hidden_sizes": [16, 24, 32],
            "neck_hidden_sizes": [8, 8, 16, 16, 24, 24, 32],
            "num_labels": 10,
        },
        side=64,
    ),
    HFCase(
        "MobileNetV2ForImageClassification",
        "MobileNetV2Config",
        {"image_size": 64, "depth_multiplier": 0.25, "num_labels": 10},
        side=64,
    ),
    HFCase(
        "PvtV2ForImageClassification",
        "PvtV2Config",
        {
            **_STAGES,
            "hidden_sizes": [16, 32, 48, 64],
            "num_attention_heads": [1, 1, 2, 2],
            "image_size": 64,
        },
        side=64,
    ),
    HFCase("PoolFormerForImageClassification", "PoolFormerConfig", {**_STAGES, "image_size": 32}),
    HFCase(
        "LevitForImageClassification",
        "LevitConfig",
        {
            "image_size": 64,
            "hidden_sizes": [32, 48, 64],
            "num_attention_heads": [1, 2, 2],
            "depths": [1, 1, 1],
            "key_dim": [8, 8, 8],
            "num_labels": 10,
        },
        side=64,
    ),
    HFCase(
        "HieraForImageClassification",
        "HieraConfig",
        {
            "image_size": [64, 64],
            "embed_dim": 16,
            "num_heads": [1, 1, 1, 1],
            "depths": [1, 1, 1, 1],
            "num_labels": 10,
        },
        side=64,
    ),
)


KERAS_SIDE = 64  # input side for the Keras sweep: every application below runs at 64 px (or says)


@dataclass(frozen=True)
class KerasCase:
    """``keras.applications.<name>(weights=None, input_shape=(side, side, 3), classes=10)``."""

    name: str
    side: int = KERAS_SIDE
    fast: bool = False
    why: str = ""


_KERAS_FAST = ("ResNet50", "VGG16", "MobileNetV2", "EfficientNetB0", "ConvNeXtTiny")
_KERAS_SIDES = {
    "InceptionV3": (80, "needs at least 75 px"),
    "InceptionResNetV2": (80, "needs at least 75 px"),
    "Xception": (80, "needs at least 71 px"),
}
# Every builder of keras.applications (tests/test_all_models.py checks the list is complete).
KERAS_APPLICATIONS = [
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtSmall",
    "ConvNeXtTiny",
    "ConvNeXtXLarge",
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "EfficientNetV2B0",
    "EfficientNetV2B1",
    "EfficientNetV2B2",
    "EfficientNetV2B3",
    "EfficientNetV2L",
    "EfficientNetV2M",
    "EfficientNetV2S",
    "InceptionResNetV2",
    "InceptionV3",
    "MobileNet",
    "MobileNetV2",
    "MobileNetV3Large",
    "MobileNetV3Small",
    "NASNetLarge",
    "NASNetMobile",
    "ResNet101",
    "ResNet101V2",
    "ResNet152",
    "ResNet152V2",
    "ResNet50",
    "ResNet50V2",
    "VGG16",
    "VGG19",
    "Xception",
]
# Builders no test can cover, with the reason. Listed in docs/COVERAGE.md, never skipped.
KERAS_EXCLUDED = {
    name: "keras refuses to build it on the torch backend (ValueError: an outstanding bug)"
    for name in ("NASNetLarge", "NASNetMobile")
}
KERAS = [
    KerasCase(
        name,
        side=_KERAS_SIDES.get(name, (KERAS_SIDE, ""))[0],
        fast=name in _KERAS_FAST,
        why=_KERAS_SIDES.get(name, (KERAS_SIDE, ""))[1],
    )
    for name in KERAS_APPLICATIONS
    if name not in KERAS_EXCLUDED
]
