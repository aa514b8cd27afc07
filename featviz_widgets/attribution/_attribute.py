"""attribute(): one image, one method, one target -> an Attribution."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from torch import nn

from .._text import did_you_mean
from ..engine import ATTRIBUTION_METHODS, attribution_maps, check_model, owner_for
from ..inputs import PreparedImage, prepare_image
from ._result import Attribution

METHODS = ATTRIBUTION_METHODS
"""Every method :func:`attribute` accepts: the CAM family first, then the input-space methods."""


def attribute(
    model: nn.Module,
    img: Any,
    target: int | str | tuple[str, int] | None = None,
    *,
    method: str = "gradcam",
    layer: str | None = None,
    weights: Any = None,
    size: int | None = None,
    labels: Sequence[str] | None = None,
    box: int | None = None,
    **options: Any,
) -> Attribution:
    """Explain the model's score for ``target`` on ``img``: which pixels (and channels) drive it.

    Parameters
    ----------
    model : nn.Module
        The network (any model the explorer opens; a Keras model through its adapter). Left
        exactly as it was: modes, ``requires_grad``, ``.grad``, parameters, buffers, hooks.
    img : image
        Anything :func:`~featviz_widgets.prepare_image` accepts (path, array, PIL image, tensor),
        or a :class:`~featviz_widgets.inputs.PreparedImage` used as it is. Never modified.
    target : None, int, str or (str, int)
        None: the top class. An int: that class. A str: a class name from ``labels``, ``weights``
        (a torchvision weights member's categories) or the model's own names
        (``config.id2label``). ``(layer, channel)``: that channel's mean map. For a segmentation
        model, a class is scored by its scores summed over the pixels predicted as it (None:
        the class on most pixels; background, class 0, only when nothing else is there).
    method : str
        One of :data:`METHODS`. CAM family (on a layer): ``"gradcam"``, ``"gradcam++"``,
        ``"hirescam"``, ``"layercam"``, ``"scorecam"`` (option ``batch_size=32`` masked images
        per forward). Through Captum, on the input pixels: ``"saliency"``; ``"smoothgrad"``
        (``samples=16``, ``noise=0.15`` of the input's range, ``seed=0``, ``batch_size=16``);
        ``"integrated_gradients"`` (``steps=32``, ``baseline=0.0``, ``batch_size=16``: peak
        memory bounded by it); ``"occlusion"`` (``window`` = 1/8 of the short side, ``stride`` =
        half of it, ``baseline=0.0``, ``batch_size=16``); ``"guided_backprop"``.
    layer : str, optional
        CAM family: the layer to explain at (a ``list_layers`` name). None picks the last layer
        with a spatial map whose gradients reach the target (a ViT's last block input norm, with
        its class token set aside; Swin and ConvNeXt read channels-last).
    weights : optional
        Preprocessing and class names, as for :func:`~featviz_widgets.prepare_image`.
    size : int, optional
        The square side the model sees; None: the model's own size, else 224.
    labels : sequence of str, optional
        Class names, index by index (overrides the names from ``weights`` or the model).
    box : int, optional
        Detection models: explain the ``box``-th best detection of the model's own output (its
        class score; ``target`` left None). None on a detection model: the best one.

    Returns
    -------
    Attribution
        ``map`` at the picture's size, ``layer_map``, ``channels`` (``top_channels(k)``),
        ``target``, ``target_name``, ``score``, ``method``, ``layer``; ``overlay()``, ``png()``.

    Examples
    --------
    >>> result = attribute(model, "cat.jpg", "tabby", weights=weights)  # doctest: +SKIP
    >>> result.png(opacity=0.4)  # doctest: +SKIP
    """
    model = check_model(model)  # the network inside a compile/DataParallel wrapper
    names = _class_names(model, weights, labels)
    index = _class_index(target, names) if isinstance(target, str) else target
    prepared = prepared_image(model, img, weights, size)
    maps = attribution_maps(
        model, prepared.batch, index, method=method, layer=layer, box=box, options=options
    )
    return Attribution(
        map=_to_size(maps.map, prepared.display.shape[:2]),
        layer_map=maps.layer_map,
        channels=maps.channels,
        input_map=maps.input_map,
        target=maps.target,
        target_name=_target_name(maps.target, names),
        score=maps.score,
        method=maps.method,
        layer=maps.layer,
        image=prepared.display,
        box=maps.box,
    )


def prepared_image(model: nn.Module, img: Any, weights: Any, size: int | None) -> PreparedImage:
    """``img`` as the model sees it (a PreparedImage is used as it is)."""
    if isinstance(img, PreparedImage):
        return img
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 8):
        raise ValueError(f"size must be an int of at least 8 (pixels), or None, got {size!r}")
    side = size if size is not None else owner_for(model).preferred_side() or 224
    return prepare_image(img, model, weights=weights, size=side)


def _class_names(model: nn.Module, weights: Any, labels: Sequence[str] | None) -> list[str] | None:
    """Class names by index: ``labels``, else the weights' categories, else the model's own."""
    if labels is not None:
        if isinstance(labels, str) or not all(isinstance(name, str) for name in labels):
            raise TypeError("labels must be a sequence of class names (str), index by index")
        return list(labels)
    categories = getattr(weights, "meta", {}).get("categories") if weights is not None else None
    if isinstance(categories, Sequence) and categories:
        return [str(name) for name in categories]
    return owner_for(model).class_names()


def _class_index(name: str, names: list[str] | None) -> int:
    if not names:
        raise ValueError(
            f"target {name!r} is a class name, but the model carries no class names: pass "
            "weights= (e.g. a torchvision weights member) or labels=[...], or a class index"
        )
    if name in names:
        return names.index(name)
    folded = [i for i, known in enumerate(names) if known.casefold() == name.casefold()]
    if len(folded) == 1:
        return folded[0]
    raise ValueError(
        f"unknown class name {name!r}.{did_you_mean(name, names)} Pass one of the model's "
        f"{len(names)} class names, or a class index"
    )


def _target_name(target: int | tuple[str, int], names: list[str] | None) -> str | None:
    if isinstance(target, tuple):
        return f"{target[0]}:{target[1]}"
    return names[target] if names is not None and target < len(names) else None


def _to_size(heat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The map at the picture's (height, width): resized bilinearly when the two differ."""
    height, width = int(shape[0]), int(shape[1])
    if heat.shape == (height, width):
        return heat
    resized = Image.fromarray(heat.astype(np.float32)).resize((width, height), Image.BILINEAR)
    return np.asarray(resized, dtype=np.float32)
