"""What a model says about itself: the input size it declares, its class names, its class scores.

Read from the model's own metadata by attribute name (duck typing: timm and transformers are never
imported): torchvision's ``image_size`` (ViT), timm's ``img_size`` (MaxViT, CoAtNet),
``patch_embed.img_size`` and ``pretrained_cfg``, Hugging Face's ``config.image_size`` and
``config.id2label``, and the ``logits`` of a ``ModelOutput``.

Examples
--------
>>> from torch import nn
>>> class HFLike(nn.Module):
...     config = type("Config", (), {"image_size": 64, "id2label": {0: "cat", 1: "dog"}})()
>>> declared_input_size(HFLike()), class_names(HFLike())
((64, 64), ['cat', 'dog'])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

__all__ = [
    "ImageListInput",
    "class_names",
    "class_scores",
    "declared_input_size",
    "image_list_input",
    "says_fixed_size",
]


def declared_input_size(model: nn.Module) -> tuple[int, int] | None:
    """The (height, width) the model's attributes say it takes, or None when they do not say.

    In order: ``image_size`` (torchvision ViT) or ``img_size`` (timm MaxViT, CoAtNet, CrossViT)
    on the model; Hugging Face's ``config.image_size``; the first patch embedding with an
    ``img_size`` that is enforced (timm's ``patch_embed`` / ``stem``, not ``dynamic_img_size`` nor
    ``strict_img_size=False``); Hiera's ``tokens_spatial_shape`` times its ``patch_stride``.
    """
    for attribute in ("image_size", "img_size"):
        if is_size(getattr(model, attribute, None)):
            return pair(getattr(model, attribute))
    config = getattr(model, "config", None)
    if is_size(getattr(config, "image_size", None)):
        return pair(config.image_size)
    for module in model.modules() if _enforced(model) else ():
        size = getattr(module, "img_size", None)
        if module is not model and is_size(size) and _enforced(module):
            return pair(size)
    tokens, stride = (
        getattr(model, "tokens_spatial_shape", None),
        getattr(model, "patch_stride", None),
    )
    if is_size(tokens) and is_size(stride) and len(tokens) == len(stride) == 2:
        return tokens[0] * stride[0], tokens[1] * stride[1]
    return None


def _enforced(embed: nn.Module) -> bool:
    """Whether a patch embedding refuses other sizes (timm: strict and not dynamic)."""
    return (
        not getattr(embed, "dynamic_img_size", False)
        and getattr(embed, "strict_img_size", True) is not False
    )


def says_fixed_size(model: nn.Module) -> tuple[int, int] | None:
    """The size of timm's ``pretrained_cfg`` when it marks the model fixed-size, else None.

    Only a claim: a model built with another ``img_size`` keeps the pretrained size here, so
    the owner checks it with one probe before trusting it.
    """
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, Mapping) and cfg.get("fixed_input_size") and is_size(cfg.get("input_size")):
        return pair(cfg["input_size"])
    return None


def class_names(model: nn.Module) -> list[str] | None:
    """Class names the model carries: Hugging Face's ``config.id2label`` or timm's
    ``pretrained_cfg["label_names"]``; None when it carries none (or they do not cover 0..n-1)."""
    id2label = getattr(getattr(model, "config", None), "id2label", None)
    if isinstance(id2label, Mapping) and id2label:
        try:
            labels = {int(index): str(name) for index, name in id2label.items()}
        except (TypeError, ValueError):
            return None
        if sorted(labels) == list(range(len(labels))):
            return [labels[i] for i in range(len(labels))]
        return None
    cfg = getattr(model, "pretrained_cfg", None)
    names = cfg.get("label_names") if isinstance(cfg, Mapping) else None
    if isinstance(names, list | tuple) and names and all(isinstance(n, str) for n in names):
        return list(names)
    return None


def class_scores(output: Any) -> Tensor | None:
    """The class-score tensor in a model's output: the output itself, or its ``logits`` entry
    (Hugging Face ``ModelOutput`` and any dict output); None when there is none.

    Examples
    --------
    >>> import torch
    >>> class_scores({"logits": torch.zeros(1, 3)}).shape
    torch.Size([1, 3])
    >>> class_scores((torch.zeros(1, 3),)) is None
    True
    """
    if isinstance(output, Tensor):
        return output
    if isinstance(output, Mapping) and isinstance(output.get("logits"), Tensor):
        return output["logits"]
    return None


def is_size(value: object) -> bool:
    """A positive int, or a 2- or 3-tuple/list of them ((H, W) or timm's (C, H, W))."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value > 0
    return (
        isinstance(value, tuple | list)
        and len(value) in (2, 3)
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    )


def pair(size: int | tuple[int, ...] | list[int]) -> tuple[int, int]:
    """(height, width) from an int, (H, W) or timm's (C, H, W)."""
    if isinstance(size, int):
        return size, size
    return int(size[-2]), int(size[-1])


@dataclass(frozen=True)
class ImageListInput:
    """How a model that takes a list of ``[C, H, W]`` 0..1 images prepares them itself.

    torchvision's detection models (Faster R-CNN, RetinaNet, FCOS, SSD, Mask and Keypoint R-CNN)
    normalize and resize inside their ``transform``: featviz feeds them unnormalized pixels, one
    list item per batch image, and never normalizes them first.

    Attributes
    ----------
    mean, std : what the model's transform normalizes the pixels with.
    side : the short side the transform resizes every image to (``min_size``; SSD's fixed size).
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    side: int


def image_list_input(model: nn.Module) -> ImageListInput | None:
    """The :class:`ImageListInput` of a model whose ``transform`` is torchvision's
    ``GeneralizedRCNNTransform`` (or a subclass: read by class name, nothing imported), else None.

    Examples
    --------
    >>> from torchvision.models.detection import ssdlite320_mobilenet_v3_large
    >>> image_list_input(ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None))
    ImageListInput(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), side=320)
    >>> image_list_input(nn.Conv2d(3, 4, 3)) is None
    True
    """
    transform = getattr(model, "transform", None)
    if not any(cls.__name__ == "GeneralizedRCNNTransform" for cls in type(transform).__mro__):
        return None
    fixed = getattr(transform, "fixed_size", None)
    sizes = transform.min_size  # a tuple: training picks one at random, eval uses the last
    side = min(fixed) if is_size(fixed) else sizes[-1] if isinstance(sizes, tuple | list) else sizes
    return ImageListInput(
        mean=tuple(float(v) for v in transform.image_mean),
        std=tuple(float(v) for v in transform.image_std),
        side=int(side),
    )
