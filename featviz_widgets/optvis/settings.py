"""What one ``maximize`` run is asked to do (``MaximizeSettings``, the presets) and what it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .transforms import Transform, standard_transforms


@dataclass(frozen=True)
class _Preset:
    fft: bool  # Fourier parametrization (else plain pixels)
    decorrelate: bool  # optimize in the decorrelated colour basis
    sigmoid: bool  # squash to [0, 1] (else shown with a mean/std contrast stretch to 0.5 +- 0.1)
    adam: bool  # Adam on the objective (else gradient / RMS ascent with a constant step)
    lr: float
    # Final image size -> transforms; None: the loop resizes to the model's input size itself.
    transforms: Callable[[int | None], list[Transform]]
    sd: float  # init noise
    mean: float  # init grey level (pixels only)
    # Values before the sigmoid past +-headroom are pulled back with weight `restraint` (None: off).
    headroom: float | None = None
    restraint: float = 0.0


PRESETS: dict[str, _Preset] = {
    # Lucid/Lucent defaults: 1/f Fourier image, decorrelated colour, sigmoid, Adam 0.05, and the
    # standard robustness transforms, ending in a resize back to the image size. Plus a saturation
    # penalty (values before the sigmoid past +-3, weight 10): the first layers are nearly linear
    # in the pixels, so without it their optimum is a box corner, every pixel pure black or white
    # (4-7 % of MobileNetV2 features.0.0's pixels clipped in 64 steps; 0 % with it, and deeper
    # layers never reach the margin, so their pictures do not change).
    "lucid": _Preset(
        True, True, True, True, 0.05, standard_transforms, 0.01, 0.0, headroom=3.0, restraint=10.0
    ),
    # Pixels starting grey + noise (Gaussian with the mean and spread of (128 + U[0, 20]) / 255),
    # gradient / RMS ascent with a constant step of 1/255, no transforms, shown with a mean/std
    # contrast stretch to 0.5 +- 0.1.
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
        "lucid": Fourier + decorrelated colour + sigmoid + transforms, Adam. "classic": pixels from a
        grey + noise start, gradient / RMS ascent with a constant step, no transforms, shown with a
        mean/std contrast stretch.
    steps : int
        Optimization steps.
    size : int
        Height and width of the optimized images. A model that declares one input size (ViT's
        ``image_size``, timm's ``pretrained_cfg``) is fed the image resized to that size.
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
    frames : int or None
        Frames of the clip optimized for a video model (a Conv3d stem); None: the fewest the
        model runs on (4, 8, 16 or 32, found by one cached probe each). Images ignore it.

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
    frames: int | None = None

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {self.preset!r}")
        for name, low in (("steps", 1), ("size", 8), ("preview_every", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.frames is not None and (
            isinstance(self.frames, bool) or not isinstance(self.frames, int) or self.frames < 1
        ):
            raise ValueError(f"frames must be an int >= 1 (frames of a clip), got {self.frames!r}")
        if self.batch is not None and self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch!r}")
        if self.transforms is not None:
            object.__setattr__(self, "transforms", tuple(self.transforms))


@dataclass
class MaximizeResult:
    """What ``maximize`` returns.

    images: one uint8 ``[H, W, 3]`` array per optimized image (in target order), ``settings.size``
    square; history: the objective value at every step taken (the sum over images for a list of
    channels); cancelled: whether ``cancel`` stopped the run; steps: steps taken. For a video
    model each image is its clip's frames in a row, and ``frames`` holds each clip as uint8
    ``[T, H, W, 3]`` (None for images).
    """

    images: list[np.ndarray]
    history: list[float]
    cancelled: bool
    steps: int
    frames: list[np.ndarray] | None = None
