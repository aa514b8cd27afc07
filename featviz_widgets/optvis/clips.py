"""Clips for video models: a time axis on the image parametrization, and how many frames to use.

A clip of ``T`` frames is optimized *folded*: ``[B, T * C, H, W]``, the frames stacked on the
channel axis (frame-major). Every transform of ``optvis.transforms`` draws one offset, zoom and
angle per batch item and applies it to all its channels, so pad, jitter, scale and rotate move
every frame of a clip alike (a camera shake, not a flicker), and the preset's resize and
normalization work unchanged. The model gets the clip unfolded to ``[B, C, T, H, W]`` right before
its forward (:func:`unfold`).

The number of frames: ``MaximizeSettings.frames``, else the fewest frames of
``engine.owner.CLIP_FRAMES`` the model runs on at the picture's size (the owner's cached probe);
a model that runs on none at that size is tried at 224 x 224, the size video models are trained
at (S3D's last pool and MViT's position tables need it).

Examples
--------
>>> params, fn = clip_image(16, 4, fft=False, decorrelate=False, sd=0.0, mean=0.5)
>>> tuple(fn().shape), tuple(unfold(fn(), 4).shape)
((1, 12, 16, 16), (1, 3, 4, 16, 16))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ..engine import ModelOwner
from ..engine.owner import CLIP_FRAMES
from . import params as _params
from .settings import PRESETS, MaximizeSettings

__all__ = ["clip_image", "fold_frames", "parametrize", "plan_frames", "unfold"]

# Tried when a video model runs on no clip at the picture's size: the size it was trained at.
FALLBACK_SIZE = (224, 224)


def clip_image(
    size: int | tuple[int, int],
    frames: int,
    *,
    batch: int = 1,
    channels: int = 3,
    fft: bool = True,
    decorrelate: bool = True,
    sd: float = 0.01,
    mean: float = 0.0,
    generator: _params.GeneratorArg = None,
    device: torch.device | str | None = None,
) -> tuple[list[Tensor], _params.ImageFn]:
    """A batch of clips to optimize, folded ``[B, frames * channels, H, W]`` (not squashed).

    Each frame has its own Fourier (or pixel) parameters; colours are decorrelated per frame.
    Clip ``i`` is initialized from ``generator[i]``, as images are.
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be an int >= 1, got {frames!r}")
    params, raw = _params.image(
        size, batch=batch, channels=frames * channels, fft=fft, decorrelate=False,
        sigmoid=False, sd=sd, mean=mean, generator=generator, device=device,
    )  # fmt: skip

    def clip_fn() -> Tensor:
        folded = raw()
        if not decorrelate:
            return folded
        b, _, h, w = folded.shape
        per_frame = _params.decorrelate_colors(folded.reshape(b * frames, channels, h, w))
        return per_frame.reshape(b, frames * channels, h, w)

    return params, clip_fn


def unfold(folded: Tensor, frames: int) -> Tensor:
    """``[B, T * C, H, W]`` (frame-major) -> the model's ``[B, C, T, H, W]``."""
    b, tc, h, w = folded.shape
    return folded.reshape(b, frames, tc // frames, h, w).transpose(1, 2)


def fold_frames(folded: Tensor, frames: int) -> Tensor:
    """``[B, T * C, H, W]`` -> ``[B * T, C, H, W]``: every frame as one picture, clip by clip."""
    b, tc, h, w = folded.shape
    return folded.reshape(b * frames, tc // frames, h, w)


def strips(pictures: Sequence[np.ndarray], frames: int, gap: int = 2) -> list[np.ndarray]:
    """``[H, W, 3]`` frames, clip by clip -> one picture per clip: its frames in a row, white gaps."""
    out = []
    for start in range(0, len(pictures), frames):
        clip = pictures[start : start + frames]
        spacer = np.full((clip[0].shape[0], gap, 3), 255, np.uint8)
        row = [part for frame in clip for part in (frame, spacer)][:-1]
        out.append(np.concatenate(row, axis=1))
    return out


def plan_frames(
    owner: ModelOwner, frames: int | None, side: int, input_size: tuple[int, int] | None
) -> tuple[int, tuple[int, int] | None]:
    """(frames, input size) for a clip model: ``frames`` when given, else the fewest it runs on
    at the picture's size, else at :data:`FALLBACK_SIZE` (then the input size becomes that)."""
    size = input_size or (side, side)
    if frames is not None:
        return frames, input_size
    found = owner.clip_frames(size)
    if found is not None:
        return found, input_size
    if input_size is None and size != FALLBACK_SIZE:
        found = owner.clip_frames(FALLBACK_SIZE)
        if found is not None:
            return found, FALLBACK_SIZE
    why = owner.clip_refusal(size) or ""
    raise ValueError(
        f"{type(owner.model).__name__} runs on no clip of {', '.join(map(str, CLIP_FRAMES))} "
        f"frames at {size[0]}x{size[1]} (nor at 224x224) ({why}); set "
        "MaximizeSettings(frames=..., size=...) to a clip it takes"
    )


def parametrize(
    owner: ModelOwner, settings: MaximizeSettings, generators: list, preprocess: object
) -> tuple[list[Tensor], _params.ImageFn, tuple[int, int] | None, int | None]:
    """(params, raw image function, input size, frames) for one run: images, or for a video
    model a clip of the fewest frames it takes; not yet squashed (the run squashes)."""
    preset = PRESETS[settings.preset]
    common = {"batch": len(generators), "channels": owner.input_channels or 3,
              "fft": preset.fft, "decorrelate": preset.decorrelate, "sd": preset.sd,
              "mean": preset.mean, "generator": generators, "device": owner.device}  # fmt: skip
    input_size = owner.fixed_input_size()
    if not owner.takes_clips:
        return (*_params.image(settings.size, sigmoid=False, **common), input_size, None)
    if preprocess is not None:
        raise ValueError("preprocess= is for Keras image models; clips use mean/std (weights=)")
    frames, input_size = plan_frames(owner, settings.frames, settings.size, input_size)
    return (*clip_image(settings.size, frames, **common), input_size, frames)
