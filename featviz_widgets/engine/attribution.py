"""Attribution as an engine job: gradients of a target, on a layer's maps or on the input pixels.

:func:`attribution_maps` runs the CAM family (``attribution_cam``) on a layer read through the
explorer's layouts (``attribution_layers``: no ``target_layers`` or ``reshape_transform`` for the
user to write) and Captum's input-space methods (``attribution_input``). Everything runs inside
``owner_for(model).using()`` with the parameters frozen: afterwards the model has no hook of
ours, and its modes, ``requires_grad``, ``.grad``, parameters and buffers are as they were,
also when the call fails.

Examples
--------
>>> import torch, torchvision
>>> net = torchvision.models.resnet18()
>>> maps = attribution_maps(net, torch.randn(1, 3, 64, 64), method="gradcam")
>>> maps.layer, maps.map.shape, maps.layer_map.shape
('layer4', (64, 64), (2, 2))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._text import did_you_mean
from ._state import check_model
from .attribution_cam import CAM_METHODS, GRADIENT_CAMS, combine, gradient_terms, score_terms
from .attribution_input import INPUT_METHODS, INPUT_OPTIONS, input_attributions
from .attribution_layers import LayerMaps, ModelLayers, layer_maps, model_layers, recording
from .attribution_target import Goal, parse_goal, scores_of, top_goal
from .owner import ModelOwner, owner_for

__all__ = ["ATTRIBUTION_METHODS", "AttributionMaps", "attribution_maps"]

ATTRIBUTION_METHODS = (*CAM_METHODS, *INPUT_METHODS)
_CAM_OPTIONS: dict[str, Any] = {"batch_size": 32}  # ScoreCAM: masked images per forward
# How many candidate layers one forward records while looking for the default layer.
_LAYERS_PER_PASS = 16


@dataclass(frozen=True)
class AttributionMaps:
    """What one attribution computed (NumPy, float32).

    Attributes
    ----------
    method, layer : the method and, for the CAM family, the layer (None for input methods).
    target : the class index explained, or ``(layer, channel)``.
    score : the target's score on the image (a class logit, or the channel's mean).
    map : ``[H, W]`` at the input's size: the CAM upsampled bilinearly, or the input
        attributions summed over the colour channels.
    layer_map : ``[h, w]`` the CAM at the layer's resolution (None for input methods).
    channels : ``[C]`` each channel's contribution to the CAM (None for input methods).
    input_map : ``[C_in, H, W]`` the input attributions as Captum returns them (None for CAMs).
    box : the detection explained (its rank, best first), whose class is ``target``; else None.
    """

    method: str
    layer: str | None
    target: int | tuple[str, int]
    score: float
    map: np.ndarray
    layer_map: np.ndarray | None = None
    channels: np.ndarray | None = None
    input_map: np.ndarray | None = None
    box: int | None = None


def attribution_maps(
    model: nn.Module,
    x: Tensor,
    target: int | tuple[str, int] | None = None,
    *,
    method: str = "gradcam",
    layer: str | None = None,
    box: int | None = None,
    options: dict[str, Any] | None = None,
) -> AttributionMaps:
    """Explain ``target`` on the image batch ``x`` ``[1, C, H, W]`` with ``method``.

    ``target``: None (the top class), a class index, or ``(layer, channel)`` (that channel's
    mean); for a segmentation model a class is scored by its scores summed over the pixels
    predicted as it (None: the class on most pixels, background only when alone). ``box``: a
    detection model's ``box``-th best detection, scored by its class score (target None). ``layer`` (CAM family): a layer name, or None for the last layer with a spatial map
    whose gradients reach the target. ``options``: the method's settings (see
    :data:`~.attribution_input.INPUT_OPTIONS`; ScoreCAM takes ``batch_size``). ValueError or
    TypeError, naming the fix, for a bad method, target, layer, option or input.
    """
    model = check_model(model)  # the network inside a compile/DataParallel wrapper
    settings = _check_call(method, x, layer, options or {})
    owner = owner_for(model)
    with owner.using():
        owner.adapter.freeze(model)
        x = x.detach().to(device=owner.device, dtype=owner.dtype, copy=True)
        layers = model_layers(owner, x)
        goal = parse_goal(owner, layers, target, box)
        if method in INPUT_METHODS:
            return _input_method(owner, model, x, goal, method, settings)
        if layer is None:
            layer = default_layer(owner, model, layers, x, goal)
        maps = layer_maps(owner, layers, layer)
        return _cam(owner, model, x, goal, maps, method, settings)


def _check_call(method: object, x: object, layer: object, options: dict[str, Any]) -> dict:
    if not isinstance(method, str) or method not in ATTRIBUTION_METHODS:
        hint = did_you_mean(method, ATTRIBUTION_METHODS) if isinstance(method, str) else ""
        raise ValueError(
            f"unknown attribution method {method!r}.{hint} Choose one of "
            f"{', '.join(ATTRIBUTION_METHODS)}"
        )
    if isinstance(x, Tensor) and x.dim() == 5:
        raise ValueError(
            "attribution explains images [1, C, H, W]; video clips [1, C, T, H, W] are not "
            "supported: explain a channel of one frame's model, or use an image model"
        )
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[0] != 1:
        what = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"attribution explains one image: x must be a [1, C, H, W] tensor, got {what}; "
            "featviz_widgets.prepare_image(img, model).batch makes one"
        )
    if method in INPUT_METHODS and layer is not None:
        raise ValueError(
            f"layer= is for the CAM family ({', '.join(CAM_METHODS)}); {method!r} explains "
            "the input pixels: leave layer out"
        )
    defaults = INPUT_OPTIONS.get(method, _CAM_OPTIONS if method == "scorecam" else {})
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        accepted = ", ".join(defaults) or "none"
        raise TypeError(f"{method!r} takes no option {unknown[0]!r}; its options are: {accepted}")
    for name, value in options.items():
        _check_option(name, value)
    return {**defaults, **options}


# Options that count something: (smallest value, whether None means "the default rule").
_COUNTS = {
    "batch_size": (1, False),
    "steps": (1, False),
    "samples": (1, False),
    "seed": (0, False),
    "window": (1, True),
    "stride": (1, True),
}


def _check_option(name: str, value: object) -> None:
    if name in _COUNTS:
        least, none_ok = _COUNTS[name]
        if value is None and none_ok:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            what = "a positive int" if least else "an int >= 0"
            raise ValueError(f"{name} must be {what}, got {value!r}")
    elif name == "noise" and (
        isinstance(value, bool) or not isinstance(value, int | float) or value < 0
    ):
        raise ValueError(f"noise is a fraction of the input's range (>= 0), got {value!r}")
    elif name == "baseline" and not isinstance(value, int | float | Tensor):
        raise TypeError(
            f"baseline is a number or a tensor shaped like the input batch, got "
            f"{type(value).__name__}"
        )


def default_layer(
    owner: ModelOwner, model: nn.Module, layers: ModelLayers, x: Tensor, goal: Goal
) -> str:
    """The last layer with a spatial map whose gradients reach the target (cached per input
    shape and goal layer).

    Layers as wide as the last map and outside attention modules come first: the model's
    feature maps (a ViT's token stream), not what a block computes inside (attention's queries,
    keys and values, an MLP's hidden units). A ViT's head reads only the class token, so the patch tokens of its last blocks get
    no gradient: the search steps back to the last block's input norm, where they do.
    """
    key = ("attribution.default_layer", tuple(x.shape), tuple(goal.layers))
    cached = owner.memo.get(key)
    if isinstance(cached, str):
        return cached
    spatial = layers.spatial()
    if goal.channel is not None:  # only layers up to the explained channel's own
        spatial = spatial[: spatial.index(goal.channel[0].name) + 1]
    if not spatial:
        raise ValueError(
            f"{type(model).__name__} has no layer with a spatial map [C, H, W] on this input: "
            "the CAM family needs one; try an input-space method such as 'integrated_gradients'"
        )
    width = layers.grid(spatial[-1])[0]
    internal = _inside_attention(owner, model, spatial)
    streams = [n for n in spatial if n not in internal and layers.grid(n)[0] == width]
    rest = [n for n in spatial if n not in internal and n not in streams]
    for candidates in (streams, rest, [n for n in spatial if n in internal]):
        for end in range(len(candidates), 0, -_LAYERS_PER_PASS):
            names = candidates[max(0, end - _LAYERS_PER_PASS) : end]
            found = _last_reached(owner, model, layers, x, goal, names)
            if found is not None:
                owner.memo[key] = found
                return found
    if not _reaches_input(model, x, goal):
        raise ValueError(
            "the target's score does not depend on the image (its gradient is zero at every "
            "layer and at the input: a classifier head initialized to zero scores every image "
            "alike); explain a channel instead, target=(layer, channel)"
        )
    raise ValueError(
        "no layer with a spatial map gets a gradient from this target; name one with layer="
    )


def _reaches_input(model: nn.Module, x: Tensor, goal: Goal) -> bool:
    """Whether the target's score has a non-zero gradient at the input pixels."""
    with torch.enable_grad():
        x_used = x.clone().requires_grad_(True)
        acts, output = recording(model, goal.layers).with_output(x_used)
        score = goal.resolve(output).scores(output, acts).sum()
        if not score.requires_grad:
            return False
        (grad,) = torch.autograd.grad(score, x_used, allow_unused=True)
    return grad is not None and bool(grad.abs().amax() > 0)


def _inside_attention(owner: ModelOwner, model: nn.Module, names: list[str]) -> set[str]:
    """The layers among ``names`` that sit inside an attention module (by its class name, as
    timm's ``Attention``, Hugging Face's ``ViTSelfAttention``, Swin's ``WindowAttention``)."""
    types = {info.name: info.type.lower() for info in owner.adapter.layers(model)}
    attention = [name for name, kind in types.items() if "attention" in kind]
    return {
        name
        for name in names
        if any(name.startswith(outer) and name[len(outer) : len(outer) + 1] in "./" and
               len(name) > len(outer) for outer in attention)
    }  # fmt: skip


def _last_reached(
    owner: ModelOwner, model: nn.Module, layers: ModelLayers, x: Tensor, goal: Goal, names: list
) -> str | None:
    with torch.enable_grad():
        x_used = x.clone().requires_grad_(True)
        acts, output = recording(model, [*names, *goal.layers]).with_output(x_used)
        score = goal.resolve(output).scores(output, acts).sum()
        present = [name for name in names if name in acts and acts[name].requires_grad]
        grads = torch.autograd.grad(score, [acts[n] for n in present], allow_unused=True)
    for name, grad in reversed(list(zip(present, grads, strict=True))):
        maps = layers.maps(name)
        if grad is not None and maps is not None and bool(maps.gather(grad).abs().amax() > 0):
            return name
    return None


def _cam(
    owner: ModelOwner,
    model: nn.Module,
    x: Tensor,
    goal: Goal,
    maps: LayerMaps,
    method: str,
    settings: dict[str, Any],
) -> AttributionMaps:
    gradients = method in GRADIENT_CAMS
    with torch.set_grad_enabled(gradients):
        x_used = x.clone().requires_grad_(gradients)
        acts, output = recording(model, [maps.name, *goal.layers]).with_output(x_used)
        goal = goal.resolve(output)
        score = goal.scores(output, acts)
        layer_output = acts[maps.name]
        if gradients:
            if not layer_output.requires_grad:
                raise ValueError(f"layer {maps.name!r} gives no gradient: its output is constant")
            (grads,) = torch.autograd.grad(score.sum(), layer_output)
            terms = gradient_terms(
                method, _float_maps(maps, layer_output), _float_maps(maps, grads)
            )
    if not gradients:  # ScoreCAM: the image masked by each channel's map, scored in batches

        def masked_scores(batch: Tensor) -> Tensor:
            return scores_of(model, batch, goal)[0]

        acts_maps = _float_maps(maps, layer_output)
        terms = score_terms(acts_maps, x, masked_scores, settings["batch_size"])
    cam, channels = combine(terms)
    upsampled = F.interpolate(
        cam[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False
    )
    return AttributionMaps(
        method=method,
        layer=maps.name,
        target=goal.describe(),
        score=float(score[0].detach()),
        map=_numpy(upsampled[0, 0]),
        layer_map=_numpy(cam),
        channels=_numpy(channels),
        box=goal.box,
    )


def _input_method(
    owner: ModelOwner,
    model: nn.Module,
    x: Tensor,
    goal: Goal,
    method: str,
    settings: dict[str, Any],
) -> AttributionMaps:
    goal, score = top_goal(model, x, goal)

    def scores(batch: Tensor) -> Tensor:
        return scores_of(model, batch, goal)[0]

    with torch.enable_grad():
        attributions = input_attributions(method, model, scores, x.requires_grad_(True), settings)
    values = attributions.detach()[0].float()
    return AttributionMaps(
        method=method,
        layer=None,
        target=goal.describe(),
        score=score,
        map=_numpy(values.sum(dim=0)),
        input_map=_numpy(values),
        box=goal.box,
    )


def _float_maps(maps: LayerMaps, output: Tensor) -> Tensor:
    """One item's ``[C, h, w]`` maps of a layer output, as float32 (half-precision models too)."""
    return maps.gather(output.detach())[0].float()


def _numpy(tensor: Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32)
