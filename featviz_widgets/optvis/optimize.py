"""The activation-maximization loop: ``maximize(model, target, ...)``.

The model runs only through the engine. Every step's forward and backward hold the model's owner
(``owner_for(model).using()``): inside, the model is in eval mode with frozen parameters
(``requires_grad=False``, so only the image gets gradients) and carries the hooks that record the
objective's layers; the forward stops right after the deepest one. When the block ends the owner
restores everything (training flags, ``requires_grad``, ``.grad``) and the hooks are gone, so
between steps - where the ``on_step`` callback and the cancel check run - another thread may
capture from the model and sees it exactly as its user left it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..engine import (
    ModelOwner,
    Recording,
    RecordingError,
    check_model,
    output_twin,
    owner_for,
    strip_wrapper_prefix,
)
from ..inputs import normalization
from ..messages import MessageValueError
from . import clips as _clips
from . import params as _params
from .objectives import OUTPUT, LayerOutputs, Objective, channel
from .settings import PRESETS, MaximizeResult, MaximizeSettings, _Preset
from .transforms import Transform, compose

__all__ = ["PRESETS", "MaximizeResult", "MaximizeSettings", "maximize"]

# Tried once when a model that declares no input size fails at ``settings.size``: the size most
# ImageNet models accept (and the only one MaxViT's 7 x 7 window partitions accept).
_FALLBACK_SIZES = (224,)


class _Event(Protocol):
    def is_set(self) -> bool: ...


OnStep = Callable[[int, float, "np.ndarray | None"], None]


def _resolve_target(
    target: object, batch: int | None, names: Container[str] = ()
) -> tuple[Objective, list[int]]:
    """Objective plus the per-image seed keys (channel numbers, or image indices for an Objective).

    ``names`` are the model's layer names, against which a wrapper's prefix is dropped."""
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
    layer = strip_wrapper_prefix(layer, names)  # "module.conv1" of a DataParallel: "conv1"
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


def _normalization(
    weights: object, channels: int, default: tuple[tuple[float, ...], ...] | None = None
) -> tuple[Tensor, Tensor]:
    """``weights``' mean/std as ``[1, C, 1, 1]`` tensors; without weights the framework's
    ``default`` (Keras: [0, 1] pixels), else ImageNet's."""
    mean, std = default if weights is None and default is not None else normalization(weights)
    mean_t, std_t = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
    if len(mean_t) != channels:  # e.g. a grayscale model with RGB statistics
        mean_t, std_t = mean_t.mean().repeat(channels), std_t.mean().repeat(channels)
    return mean_t.view(1, -1, 1, 1), std_t.view(1, -1, 1, 1)


def _transforms(settings: MaximizeSettings, input_size: tuple[int, int] | None) -> Transform:
    if settings.transforms is not None:
        return compose(settings.transforms)
    # With a known input size the loop resizes once, right before the forward.
    return compose(PRESETS[settings.preset].transforms(None if input_size else settings.size))


@dataclass
class _Run:
    """Everything one optimization needs, built (under the model's lock) before the first step."""

    owner: ModelOwner
    objective: Objective
    # The objective's layers (and the model's output), recorded with their graph every step.
    recording: Recording
    params: list[Tensor]
    # The image before the preset's squash (a sigmoid to [0, 1] for lucid; none for classic).
    raw_fn: _params.ImageFn
    transform: Transform
    generators: list[torch.Generator]
    mean: Tensor
    std: Tensor
    settings: MaximizeSettings
    preset: _Preset
    lr: float
    # The (height, width) the model is fed; None: whatever the transforms give (settings.size).
    input_size: tuple[int, int] | None
    size_checked: bool = False
    # What the forward runs: the model, or its batch-norm-folded twin when only the output counts.
    network: nn.Module | None = None
    # A Keras-style preprocess_input of [N, H, W, C] 0..255 pixels, used instead of mean/std.
    preprocess: Callable[[Tensor], Tensor] | None = None
    # Frames of a clip (a video model): the images are folded [B, T * C, H, W] (optvis.clips).
    frames: int | None = None

    def squash(self, raw: Tensor) -> Tensor:
        return torch.sigmoid(raw) if self.preset.sigmoid else raw

    def model_input(self, raw: Tensor) -> Tensor:
        images = self.transform(self.squash(raw), self.generators)
        if self.input_size is not None and tuple(images.shape[-2:]) != self.input_size:
            images = F.interpolate(
                images, size=self.input_size, mode="bilinear", align_corners=False, antialias=False
            )
        if self.preprocess is not None:  # differentiable: Keras ops are torch ops here
            x = self.preprocess((images * 255).movedim(1, -1)).movedim(-1, 1).to(self.owner.dtype)
        else:
            x = ((images - self.mean) / self.std).to(self.owner.dtype)
        if self.frames is not None:
            return _clips.unfold(x, self.frames).contiguous()
        # oneDNN's CPU convolutions run faster in NHWC (10-25 % per step on MobileNetV2).
        return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cpu" else x

    def gradients(self) -> tuple[float, tuple[Tensor, ...]]:
        """Forward and backward (the caller holds the model): objective value, image gradients."""
        model = self.owner.model if self.network is None else self.network
        raw = self.raw_fn()
        x = self.model_input(raw)
        try:
            acts = self._record(model, x)
        except RecordingError:
            raise
        except Exception as error:  # the model's own error: perhaps it takes one size only
            if self.size_checked or self.input_size is not None:
                raise
            self._fall_back(x, error)
            acts = self._record(model, self.model_input(raw))
        self.size_checked = True
        value = self.objective(acts)
        if not value.requires_grad:  # the same refusal as the receptive-field rule's
            raise MessageValueError("input_independent", layer=", ".join(self.objective.layers))
        total = value
        if self.preset.headroom is not None:
            total = value - self.preset.restraint * _params.saturation(raw, self.preset.headroom)
        return float(value.detach()), torch.autograd.grad(total, self.params)

    def _record(self, model: nn.Module, x: Tensor) -> LayerOutputs:
        """The objective's layers on ``x``, with their layouts at this input size."""
        layouts = self.recording.layouts(x)
        network = None if model is self.owner.model else model
        return LayerOutputs(self.recording(x, network=network), layouts)

    def _fall_back(self, x: Tensor, error: Exception) -> None:
        """Feed the model a size it accepts from now on, or say which size to set."""
        h, w = x.shape[-2:]
        reason = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
        tried = [f"{h} x {w} ({reason})"]
        for size in _FALLBACK_SIZES:
            if (size, size) == (h, w):
                continue
            refused = self.owner.accepts(size, x.detach())
            if refused is None:
                self.input_size = (size, size)
                self.transform = _transforms(self.settings, self.input_size)
                return
            tried.append(f"{size} x {size} ({refused})")
        raise ValueError(
            f"{type(self.owner.model).__name__} does not run on {' nor on '.join(tried)} inputs; "
            "if it takes one input size only, set MaximizeSettings(size=...) to that size"
        ) from error

    def ascend(self, grads: tuple[Tensor, ...], optimizer: torch.optim.Optimizer | None) -> None:
        if optimizer is not None:
            for param, grad in zip(self.params, grads, strict=True):
                param.grad = -grad  # Adam minimizes
            optimizer.step()
            return
        with torch.no_grad():
            for param, grad in zip(self.params, grads, strict=True):
                # Gradient / RMS ascent, per image: a step of constant size whatever the scale.
                rms = grad.pow(2).flatten(1).mean(1).sqrt().view(-1, *[1] * (grad.dim() - 1))
                param.add_(grad / (rms + 1e-5), alpha=self.lr)

    def images(self, count: int | None = None) -> list[np.ndarray]:
        """One uint8 ``[H, W, 3]`` picture per image; a clip's frames in a row."""
        pictures = self.frames_of(count)
        return pictures if self.frames is None else _clips.strips(pictures, self.frames)

    def frames_of(self, count: int | None = None) -> list[np.ndarray]:
        """uint8 ``[H, W, 3]`` pictures: one per image, or every frame of every clip in order."""
        with torch.no_grad():
            batch = self.squash(self.raw_fn()[:count]).detach().float().cpu()
        if self.frames is not None:
            batch = _clips.fold_frames(batch, self.frames)
        if not self.preset.sigmoid:  # mean/std contrast stretch to 0.5 +- 0.1
            flat = batch.flatten(1)
            mean, std = flat.mean(1), flat.std(1)
            batch = (batch - mean.view(-1, 1, 1, 1)) / (std.view(-1, 1, 1, 1) + 1e-5) * 0.1 + 0.5
        pixels = (batch.clamp(0, 1) * 255).round().to(torch.uint8)
        if pixels.shape[1] != 3:  # grayscale (or more channels): show as RGB
            pixels = pixels[:, :1].expand(-1, 3, -1, -1)
        return list(pixels.permute(0, 2, 3, 1).contiguous().numpy())


def _prepare(
    owner: ModelOwner,
    target: object,
    settings: MaximizeSettings,
    weights: object,
    preprocess: Callable[[Tensor], Tensor] | None = None,
) -> _Run:
    """Validate the target against the model and build the image (the caller holds the model)."""
    names = set(owner.adapter.names(owner.model))
    objective, keys = _resolve_target(target, settings.batch, names)
    # Checks the names (close-match hints) before any work.
    recording = Recording(owner.model, objective.layers, keep_graph=True)
    preset = PRESETS[settings.preset]
    channels = owner.input_channels or 3
    device = owner.device
    generators = [torch.Generator().manual_seed(_image_seed(settings.seed, k)) for k in keys]
    params, raw_fn, input_size, frames = _clips.parametrize(owner, settings, generators, preprocess)
    if owner.adapter.image_list_input(owner.model) is not None:  # normalizes inside (detection)
        mean, std = _normalization(None, channels, ((0.0,) * channels, (1.0,) * channels))
    else:
        mean, std = _normalization(weights, channels, owner.adapter.default_normalization())
    if frames is not None:  # folded clips: the statistics once per frame
        mean, std = mean.repeat(1, frames, 1, 1), std.repeat(1, frames, 1, 1)
    # Class pictures read the output only: the folded twin gives the same logits ~1.6x faster.
    only_output = set(objective.layers) == {OUTPUT}
    network = output_twin(owner.model) if only_output else None
    return _Run(
        owner=owner,
        objective=objective,
        recording=recording,
        params=params,
        raw_fn=raw_fn,
        transform=_transforms(settings, input_size),
        generators=generators,
        mean=mean.to(device),
        std=std.to(device),
        settings=settings,
        preset=preset,
        lr=settings.lr or preset.lr,
        input_size=input_size,
        network=network,
        preprocess=preprocess,
        frames=frames,
    )


def _freeze(model: nn.Module) -> None:
    """Eval mode, and no parameter gradients: only the image is optimized (restored by the owner)."""
    owner_for(model).adapter.freeze(model)


def maximize(
    model: nn.Module,
    target: Objective | tuple[str, int] | tuple[str, Sequence[int]],
    *,
    settings: MaximizeSettings | None = None,
    on_step: OnStep | None = None,
    cancel: _Event | None = None,
    weights: object = None,
    preprocess: Callable[[Tensor], Tensor] | None = None,
) -> MaximizeResult:
    """Optimize images that maximize ``target`` in ``model``; the model comes back unchanged.

    Parameters
    ----------
    model : nn.Module
        Any CNN or vision transformer; during each step it runs in eval mode with frozen
        parameters, holding the model's lock; between steps it is as its user left it.
    target : Objective, (layer, channel) or (layer, [channels])
        A list of channels gives one image per channel, optimized together as one batch.
    settings : MaximizeSettings, optional
        Preset, steps, size, lr, seed, preview cadence, batch, transforms. A model that declares
        one input size gets the image resized to it; one that declares none and fails at
        ``settings.size`` is tried once at 224 x 224 (ValueError naming the sizes if that fails).
    on_step : callable, optional
        ``on_step(step, value, preview)`` after every step (1-based); ``preview`` is the first image as
        uint8 ``[H, W, 3]`` every ``settings.preview_every`` steps and at the last step, else None.
        It runs without the model's lock.
    cancel : object with ``is_set()``, optional
        Checked before every step (e.g. a ``threading.Event``); the run stops within one step.
    weights : torchvision WeightsEnum member, optional
        Input normalization from ``weights.transforms()`` mean/std; default ImageNet's (a
        Keras model: [0, 1] pixels).
    preprocess : callable, optional
        Instead of a normalization: a function of ``[N, H, W, C]`` 0..255 pixel tensors, such as
        ``keras.applications.resnet.preprocess_input`` (what the explorer's ``preprocess=`` is).

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
    model = check_model(model)
    if cancel is not None and not callable(getattr(cancel, "is_set", None)):
        raise TypeError("cancel must have an is_set() method (e.g. threading.Event)")
    settings = MaximizeSettings() if settings is None else settings
    owner = owner_for(model)
    with owner.using():
        run = _prepare(owner, target, settings, weights, preprocess)
    optimizer = torch.optim.Adam(run.params, lr=run.lr) if run.preset.adam else None
    history: list[float] = []
    cancelled = False
    for step in range(1, settings.steps + 1):
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        with owner.using(), torch.enable_grad():  # hooks and frozen flags live in here only
            _freeze(model)
            value, grads = run.gradients()
        run.ascend(grads, optimizer)
        history.append(value)
        if on_step is not None:
            due = settings.preview_every and (
                step % settings.preview_every == 0 or step == settings.steps
            )
            on_step(step, value, run.images(1)[0] if due else None)
    clips = None
    if run.frames is not None:  # every clip's frames, [T, H, W, 3] each
        frames = run.frames_of()
        clips = [np.stack(frames[i : i + run.frames]) for i in range(0, len(frames), run.frames)]
    return MaximizeResult(run.images(), history, cancelled, len(history), clips)
