"""The activation-maximization loop: ``maximize(model, target, ...)``.

The forward stops right after the deepest layer the objective reads, the model's parameters are
frozen (``requires_grad=False``) during the run so only the image gets gradients, and everything is
restored afterwards: training flags, ``requires_grad``, hooks - also after a cancel or an exception.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn

from ..engine import Capture, input_channels, model_device, model_dtype, preserved_state
from ..layout import layout_hints
from . import params as _params
from .objectives import OUTPUT, LayerOutputs, Objective, channel
from .transforms import Transform, compose, standard_transforms

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _Event(Protocol):
    def is_set(self) -> bool: ...


OnStep = Callable[[int, float, "np.ndarray | None"], None]


@dataclass(frozen=True)
class _Preset:
    fft: bool  # Fourier parametrization (else plain pixels)
    decorrelate: bool  # optimize in the decorrelated colour basis
    sigmoid: (
        bool  # squash to [0, 1] (else shown contrast-stretched like seed 001's deprocess_image)
    )
    adam: bool  # Adam on the objective (else plain ascent on gradient / RMS, seed 001)
    lr: float
    transforms: Callable[[int], list[Transform]]  # image size -> transforms
    sd: float  # init noise
    mean: float  # init grey level (pixels only)


PRESETS: dict[str, _Preset] = {
    # Lucid/Lucent defaults: 1/f Fourier image, decorrelated colour, sigmoid, Adam 0.05, transforms
    # ending in a resize back to the image size (fixed-size models such as ViT accept no other).
    "lucid": _Preset(True, True, True, True, 0.05, standard_transforms, 0.01, 0.0),
    # Seed 001: grey + uniform noise (128 + U[0, 20]) / 255, ascent with step 1/255 per RMS-normalized
    # gradient, no transforms, shown with deprocess_image's contrast stretch.
    "classic": _Preset(
        False, False, False, False, 1 / 255, lambda size: [], 20 / 255 / 12**0.5, 138 / 255
    ),
}


@dataclass(frozen=True)
class MaximizeSettings:
    """Settings of one ``maximize`` run (frozen, so it can key a cache).

    Parameters
    ----------
    preset : {"lucid", "classic"}
        "lucid": Fourier + decorrelated colour + sigmoid + transforms, Adam. "classic": seed 001's grey +
        noise start, gradient / RMS ascent, contrast-stretched output.
    steps : int
        Optimization steps.
    size : int
        Height and width of the optimized images.
    lr : float or None
        Step size; None takes the preset's (lucid 0.05, classic 1/255).
    seed : int
        Same seed -> same pictures. The image for channel ``c`` of a ``(layer, channels)`` target (or
        image ``i`` of an Objective target) draws init and transforms from its own seeded generator.
    preview_every : int
        ``on_step`` gets a preview image every this many steps (and at the last step); 0 = never.
    batch : int or None
        Images for an Objective target; None = the objective's ``batch_size``.
    transforms : tuple of callables or None
        Robustness transforms; None takes the preset's, ``()`` disables them.

    Examples
    --------
    >>> MaximizeSettings(steps=64, size=96).lr is None
    True
    """

    preset: str = "lucid"
    steps: int = 128
    size: int = 128
    lr: float | None = None
    seed: int = 0
    preview_every: int = 8
    batch: int | None = None
    transforms: tuple[Transform, ...] | None = None

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {self.preset!r}")
        for name, low in (("steps", 1), ("size", 8), ("preview_every", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.batch is not None and self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch!r}")
        if self.transforms is not None:
            object.__setattr__(self, "transforms", tuple(self.transforms))


@dataclass
class MaximizeResult:
    """What ``maximize`` returns.

    images: one uint8 ``[H, W, 3]`` array per optimized image (in target order); history: the
    objective value at every step taken (the sum over images for a list of channels); cancelled:
    whether ``cancel`` stopped the run; steps: steps taken.
    """

    images: list[np.ndarray]
    history: list[float]
    cancelled: bool
    steps: int


class _StopForward(BaseException):
    """Raised by the hook on the deepest needed layer; a BaseException so a model's own
    ``except Exception`` cannot swallow it."""


class _Recorder:
    """Forward hooks on the objective's layers, on for a whole run (per-step hooking costs more than
    an early layer's forward); ``run(x)`` returns ``{layer: output}`` with the autograd graph, as
    ``LayerOutputs`` whose ``layouts`` come from the output shapes of every module in the first
    forward (channels-last, token and window layers keep their channels in the last axis)."""

    def __init__(self, model: nn.Module, layers: Sequence[str]) -> None:
        self._model = model
        self._layers = [name for name in layers if name != OUTPUT]
        self._need_output = OUTPUT in layers
        self._acts: dict[str, Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self.layouts: dict[str, str] | None = None if self._layers else {}

    def __enter__(self) -> _Recorder:
        try:
            for name in self._layers:
                module = self._model.get_submodule(name)
                self._handles.append(module.register_forward_hook(self._hook(name)))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str) -> Callable[[nn.Module, object, object], None]:
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            if name in self._acts:  # a module that runs twice: its first call is the one scored
                return
            if not isinstance(output, Tensor):
                raise ValueError(f"layer {name!r} returns {type(output).__name__}, not one tensor")
            last = len(self._acts) + 1 == len(self._layers) and not self._need_output
            # Earlier outputs are copied: a later in-place op (ReLU(inplace=True)) would edit them.
            self._acts[name] = output if last else output.clone()
            if last:
                raise _StopForward

        return hook

    def run(self, x: Tensor) -> LayerOutputs:
        if self.layouts is None:  # first forward: learn every layer's layout from the shapes
            with _shape_probe(self._model) as shapes:
                acts = self._forward(x)
            self.layouts = layout_hints(self._model, shapes)
        else:
            acts = self._forward(x)
        return LayerOutputs(acts, self.layouts)

    def _forward(self, x: Tensor) -> dict[str, Tensor]:
        self._acts = {}
        try:
            output = self._model(x)
        except _StopForward:
            return self._acts
        for name in self._layers:
            if name not in self._acts:
                raise ValueError(f"layer {name!r} never ran in the forward")
        if self._need_output:
            if not isinstance(output, Tensor):
                raise ValueError(
                    f"the model returns {type(output).__name__}, not a tensor of logits"
                )
            self._acts[OUTPUT] = output
        return self._acts


@contextmanager
def _shape_probe(model: nn.Module) -> Iterator[dict[str, object]]:
    """Record the output shape of every module, keyed like ``capture`` (``name``, ``name#2``,
    ``name[0]``) in execution order, for ``layout_hints``; the hooks run before the objective's."""
    shapes: dict[str, object] = {}
    calls: dict[str, int] = {}

    def record(name: str, output: object) -> None:
        calls[name] = calls.get(name, 0) + 1
        key = name if calls[name] == 1 else f"{name}#{calls[name]}"
        parts = output if isinstance(output, tuple | list) else (output,)
        for i, part in enumerate(parts):
            if isinstance(part, Tensor):
                label = key if part is output else f"{key}[{i}]"
                shapes[label] = SimpleNamespace(shape=tuple(part.shape))

    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: record(name, o), prepend=True)
        for name, module in model.named_modules()
        if name
    ]
    try:
        yield shapes
    finally:
        for handle in handles:
            handle.remove()


def _resolve_target(target: object, batch: int | None) -> tuple[Objective, list[int]]:
    """Objective plus the per-image seed keys (channel numbers, or image indices for an Objective)."""
    if isinstance(target, Objective):
        n = target.batch_size if batch is None else batch
        if n < target.batch_size:
            raise ValueError(
                f"the objective scores image {target.batch_size - 1}; batch={n} is too small"
            )
        return target, list(range(n))
    if not (isinstance(target, tuple | list) and len(target) == 2 and isinstance(target[0], str)):
        raise TypeError(
            f"target must be an Objective, (layer, channel) or (layer, [channels]); got {target!r}"
        )
    layer, chans = target
    chans = [chans] if not isinstance(chans, Sequence) else list(chans)
    try:
        if any(isinstance(c, bool) for c in chans):
            raise TypeError
        chans = [operator.index(c) for c in chans]
    except TypeError:
        raise TypeError(f"channels must be ints, got {target[1]!r}") from None
    if not chans:
        raise ValueError("the list of channels is empty")
    if batch is not None and batch != len(chans):
        raise ValueError(f"batch={batch} but {len(chans)} channels were given")
    return sum(channel(layer, c, batch=i) for i, c in enumerate(chans)), chans


def _image_seed(seed: int, key: int) -> int:
    return (seed * 1_000_003 + key) % 2**63


def _normalization(weights: object, channels: int) -> tuple[Tensor, Tensor]:
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    if weights is not None:
        make = getattr(weights, "transforms", None)
        if not callable(make):
            raise TypeError(f"weights must be a torchvision WeightsEnum member, got {weights!r}")
        preprocess = make()
        mean, std = getattr(preprocess, "mean", mean), getattr(preprocess, "std", std)
    mean_t, std_t = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
    if len(mean_t) != channels:  # e.g. a grayscale model with RGB statistics
        mean_t, std_t = mean_t.mean().repeat(channels), std_t.mean().repeat(channels)
    return mean_t.view(1, -1, 1, 1), std_t.view(1, -1, 1, 1)


@dataclass
class _Run:
    """Everything one optimization needs, built before the model is touched."""

    objective: Objective
    params: list[Tensor]
    image_fn: _params.ImageFn
    transform: Transform
    generators: list[torch.Generator]
    mean: Tensor
    std: Tensor
    dtype: torch.dtype
    preset: _Preset
    lr: float

    def model_input(self) -> Tensor:
        images = self.transform(self.image_fn(), self.generators)
        x = ((images - self.mean) / self.std).to(self.dtype)
        # oneDNN's CPU convolutions run faster in NHWC (10-25 % per step on MobileNetV2).
        return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cpu" else x

    def step(self, recorder: _Recorder, optimizer: torch.optim.Optimizer | None) -> float:
        value = self.objective(recorder.run(self.model_input()))
        grads = torch.autograd.grad(value, self.params)
        if optimizer is not None:
            for param, grad in zip(self.params, grads, strict=True):
                param.grad = -grad  # Adam minimizes
            optimizer.step()
        else:
            with torch.no_grad():
                for param, grad in zip(self.params, grads, strict=True):
                    # Seed 001's trick, per image: a step of constant size whatever the gradient scale.
                    rms = grad.pow(2).flatten(1).mean(1).sqrt().view(-1, *[1] * (grad.dim() - 1))
                    param.add_(grad / (rms + 1e-5), alpha=self.lr)
        return float(value.detach())

    def images(self, count: int | None = None) -> list[np.ndarray]:
        with torch.no_grad():
            batch = self.image_fn()[:count].detach().float().cpu()
        if not self.preset.sigmoid:  # seed 001's deprocess_image: centre, std 0.1, shift to 0.5
            flat = batch.flatten(1)
            mean, std = flat.mean(1), flat.std(1)
            batch = (batch - mean.view(-1, 1, 1, 1)) / (std.view(-1, 1, 1, 1) + 1e-5) * 0.1 + 0.5
        pixels = (batch.clamp(0, 1) * 255).round().to(torch.uint8)
        if pixels.shape[1] != 3:  # grayscale (or more channels): show as RGB
            pixels = pixels[:, :1].expand(-1, 3, -1, -1)
        return list(pixels.permute(0, 2, 3, 1).contiguous().numpy())


def _prepare(model: nn.Module, target: object, settings: MaximizeSettings, weights: object) -> _Run:
    objective, keys = _resolve_target(target, settings.batch)
    hooked = [name for name in objective.layers if name != OUTPUT]
    if hooked:
        Capture(model, hooked)  # validates the names (close-match hints) before any work
    preset = PRESETS[settings.preset]
    channels = input_channels(model) or 3
    device = model_device(model)
    generators = [torch.Generator().manual_seed(_image_seed(settings.seed, k)) for k in keys]
    make = _params.fourier_image if preset.fft else _params.pixel_image
    kwargs = {} if preset.fft else {"mean": preset.mean}
    params, raw = make(
        settings.size,
        batch=len(keys),
        channels=channels,
        sd=preset.sd,
        generator=generators,
        device=device,
        **kwargs,
    )
    image_fn = _params.to_rgb(raw, decorrelate=preset.decorrelate, sigmoid=preset.sigmoid)
    transforms = (
        preset.transforms(settings.size) if settings.transforms is None else settings.transforms
    )
    mean, std = _normalization(weights, channels)
    return _Run(
        objective,
        params,
        image_fn,
        compose(transforms),
        generators,
        mean.to(device),
        std.to(device),
        model_dtype(model),
        preset,
        settings.lr or preset.lr,
    )


def maximize(
    model: nn.Module,
    target: Objective | tuple[str, int] | tuple[str, Sequence[int]],
    *,
    settings: MaximizeSettings | None = None,
    on_step: OnStep | None = None,
    cancel: _Event | None = None,
    weights: object = None,
) -> MaximizeResult:
    """Optimize images that maximize ``target`` in ``model``; the model comes back unchanged.

    Parameters
    ----------
    model : nn.Module
        Any CNN; it runs in eval mode with frozen parameters during the call.
    target : Objective, (layer, channel) or (layer, [channels])
        A list of channels gives one image per channel, optimized together as one batch.
    settings : MaximizeSettings, optional
        Preset, steps, size, lr, seed, preview cadence, batch, transforms.
    on_step : callable, optional
        ``on_step(step, value, preview)`` after every step (1-based); ``preview`` is the first image as
        uint8 ``[H, W, 3]`` every ``settings.preview_every`` steps and at the last step, else None.
    cancel : object with ``is_set()``, optional
        Checked before every step (e.g. a ``threading.Event``); the run stops within one step.
    weights : torchvision WeightsEnum member, optional
        Input normalization from ``weights.transforms()`` mean/std; default ImageNet's.

    Returns
    -------
    MaximizeResult
        ``images`` (uint8 ``[H, W, 3]``, one per image), ``history``, ``cancelled``, ``steps``.

    Examples
    --------
    >>> result = maximize(model, ("features.3", [0, 1, 2]), settings=MaximizeSettings(steps=64))
    >>> len(result.images), result.images[0].shape
    (3, (128, 128, 3))
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if cancel is not None and not callable(getattr(cancel, "is_set", None)):
        raise TypeError("cancel must have an is_set() method (e.g. threading.Event)")
    settings = MaximizeSettings() if settings is None else settings
    run = _prepare(model, target, settings, weights)
    optimizer = torch.optim.Adam(run.params, lr=run.lr) if run.preset.adam else None
    history: list[float] = []
    cancelled = False
    with preserved_state(model), torch.enable_grad(), _Recorder(model, run.objective.layers) as rec:
        model.eval()
        for param in model.parameters():
            param.requires_grad_(False)  # only the image gets gradients; param.grad stays as it was
        for step in range(1, settings.steps + 1):
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            history.append(run.step(rec, optimizer))
            if on_step is not None:
                due = settings.preview_every and (
                    step % settings.preview_every == 0 or step == settings.steps
                )
                on_step(step, history[-1], run.images(1)[0] if due else None)
    return MaximizeResult(run.images(), history, cancelled, len(history))
