"""Anything a user calls an image -> a model-ready batch plus the picture the model sees.

Examples
--------
>>> import numpy as np
>>> from featviz_widgets.inputs import prepare_image
>>> prepared = prepare_image(np.zeros((300, 400, 3), np.uint8))
>>> tuple(prepared.batch.shape), prepared.display.shape
((1, 3, 224, 224), (224, 224, 3))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

from ._images import load_clip, load_image, to_mode
from ._processors import processor_preset
from .engine import check_model, owner_for
from .messages import Message, MessageTypeError, MessageValueError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PreparedImage",
    "Preprocessing",
    "load_clip",
    "load_image",
    "normalization",
    "prepare_clip",
    "prepare_image",
    "preprocessing",
]

# The per-channel RGB mean and std of the ImageNet training set: what torchvision's pretrained
# classifiers (and prepare_image without weights) normalize with. The one definition in the package.
IMAGENET_MEAN: tuple[float, ...] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, ...] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PreparedImage:
    """A model-ready batch and the picture it was made from.

    Attributes
    ----------
    batch : ``[1, C, H, W]`` float32 CPU tensor, normalized with ``mean`` / ``std``; for a
        clip ``[1, C, T, H, W]``.
    display : ``uint8 [H, W, 3]``: exactly the pixels the model sees, before normalization
        (gray repeated three times for a one-channel model), for overlays; a clip's first frame.
    mean, std : the per-channel normalization applied to ``batch``.
    frames : a clip's frames as the model sees them, ``uint8 [T, H, W, 3]``; None for an image.
    """

    batch: Tensor
    display: np.ndarray
    mean: tuple[float, ...]
    std: tuple[float, ...]
    frames: np.ndarray | None = None


def prepare_image(
    img: Any,
    model: nn.Module | None = None,
    *,
    weights: Any = None,
    size: int = 224,
    preprocess: Callable[[np.ndarray], Any] | None = None,
    clip: bool | None = None,
) -> PreparedImage:
    """Load ``img`` and preprocess it the way ``model`` expects.

    Parameters
    ----------
    img : anything :func:`load_image` accepts, or a clip (see :func:`prepare_clip`).
    model : channels follow its first convolution (1 -> grayscale); None means RGB.
    weights : a torchvision weights enum member (e.g. ``ResNet18_Weights.IMAGENET1K_V1``), a
        transformers image processor or a timm data config: it defines resize, crop, mean and
        std (``size`` is then unused).
    size : without ``weights``: resize the short side to ``size * 256 / 224``, centre-crop
        ``size`` and normalize with ImageNet mean/std (a Keras model: scale pixels to [0, 1]).
        A model that normalizes its own inputs (torchvision detection) gets the centre ``size``
        square of 0..1 pixels, whatever ``weights`` (which then only name its classes).
    preprocess : a function of a float32 ``[1, H, W, C]`` array of 0..255 pixels, such as
        ``keras.applications.resnet.preprocess_input``, used instead of the normalization
        (after the resize and crop).
    clip : whether ``img`` is a clip: None decides by the model (a video model, whose stem is a
        Conv3d, takes clips: a list of frames, a 4-D array, a 5-D tensor, a 4-D ``(C, T, H, W)``
        tensor whose first axis is the model's channels, as torchvision's video ``transforms()``
        return; a 4-D tensor that could also be one image ``(1, C, H, W)`` is ambiguous and
        needs ``clip=True`` or ``clip=False``); True for a clip without a model (or use
        :func:`prepare_clip`).

    Examples
    --------
    >>> p = prepare_image(np.full((50, 80), 0.5), nn.Conv2d(1, 8, 3), size=32)
    >>> tuple(p.batch.shape), p.mean
    ((1, 1, 32, 32), (0.449,))
    """
    if is_clip(img, model, clip):
        if preprocess is not None:
            raise MessageValueError("clip_preprocess")
        return prepare_clip(img, model, weights=weights, size=size)
    recipe = preprocessing(model, weights=weights, size=size, preprocess=preprocess)
    picture = recipe.picture(img)
    batch = recipe.tensor(picture).unsqueeze(0)
    display = np.asarray(picture.convert("RGB"), dtype=np.uint8).copy()
    return PreparedImage(
        batch=batch.contiguous(), display=display, mean=recipe.mean, std=recipe.std
    )


def prepare_clip(
    clip: Any, model: nn.Module | None = None, *, weights: Any = None, size: int = 224
) -> PreparedImage:
    """Load a clip and preprocess every frame the way ``model`` expects.

    Parameters
    ----------
    clip : a ``(T, H, W, 3)`` array, a list of frames (PIL images, arrays, paths, tensors) or a
        ``(C, T, H, W)`` / ``(1, C, T, H, W)`` tensor (see :func:`load_clip`).
    model : a video model (its stem is a Conv3d); None prepares RGB frames.
    weights : as for :func:`prepare_image`; a torchvision video weights member
        (``R3D_18_Weights.KINETICS400_V1``) gives its ``VideoClassification`` resize, crop and
        Kinetics mean/std.
    size : without ``weights``: each frame resized and centre-cropped like an image.

    Returns
    -------
    PreparedImage
        ``batch`` ``[1, C, T, H, W]``, ``frames`` ``uint8 [T, H, W, 3]``, ``display`` the first.

    Examples
    --------
    >>> p = prepare_clip(np.zeros((4, 40, 60, 3), np.uint8), size=32)
    >>> tuple(p.batch.shape), p.frames.shape
    ((1, 3, 4, 32, 32), (4, 32, 32, 3))
    """
    recipe = preprocessing(model, weights=weights, size=size)
    pictures = [recipe.picture(frame) for frame in load_clip(clip)]
    batch = torch.stack([recipe.tensor(picture) for picture in pictures], dim=1)
    frames = np.stack([np.asarray(p.convert("RGB"), dtype=np.uint8) for p in pictures])
    return PreparedImage(
        batch=batch.unsqueeze(0).contiguous(), display=frames[0].copy(), mean=recipe.mean,
        std=recipe.std, frames=frames,
    )  # fmt: skip


def is_clip(img: Any, model: nn.Module | None, clip: bool | None = None) -> bool:
    """Whether ``img`` is a clip for ``model``: ``clip`` when given, else by its form.

    ValueError when the form is ambiguous (a 4-D tensor for a video model that reads as a clip
    and as an image, or as neither) or does not fit the model (a clip for an image model, an image for a video model), naming the fix.
    """
    if clip is not None and not isinstance(clip, bool):
        raise MessageTypeError("clip_flag", value=clip)
    owner = owner_for(check_model(model)) if model is not None else None
    takes_clips = owner is not None and owner.takes_clips
    if clip is None and isinstance(img, Tensor) and img.dim() == 4 and takes_clips:
        clip = _tensor_reading(img, owner.input_channels or 3)
    if clip is None and not takes_clips:
        return False  # an image model (or none): image decoding says what a clip needs
    if clip is None:
        clip = isinstance(img, list | tuple) or (
            getattr(img, "ndim", 0) == 4 if isinstance(img, np.ndarray) else
            isinstance(img, Tensor) and img.dim() == 5
        )  # fmt: skip
    if model is not None and clip and not takes_clips:
        raise MessageValueError("clip_for_image_model", model=type(model).__name__)
    if model is not None and not clip and takes_clips:
        raise MessageValueError("image_for_video_model", model=type(model).__name__)
    return clip


def _tensor_reading(img: Tensor, channels: int) -> bool:
    """A 4-D tensor for a video model taking ``channels``: True when it can only be a clip
    ``(C, T, H, W)`` (what torchvision's video ``transforms()`` return), False when it can only
    be an image ``(1, C, H, W)``; ValueError when both readings, or neither, fit."""
    as_clip = int(img.shape[0]) == channels
    as_image = int(img.shape[0]) == 1 and int(img.shape[1]) == channels
    if as_clip != as_image:
        return as_clip
    raise MessageValueError("clip_ambiguous", shape=tuple(img.shape))


@dataclass(frozen=True)
class Preprocessing:
    """The recipe that turns one image into a model input: resize, centre-crop, normalize.

    What :func:`prepare_image` applies, resolved once so that a dataset of images is prepared
    exactly like the explorer's photo (build one with :func:`preprocessing`).

    Attributes
    ----------
    channels : 1 (grayscale) or 3 (RGB), from the model's first convolution.
    resize : torchvision ``resize`` size: one int resizes the short side to it.
    crop : the centre-crop size, or None.
    interpolation : the resize interpolation.
    mean, std : the per-channel normalization.
    function : a preprocessing function of ``[1, H, W, C]`` 0..255 pixels used instead of
        ``mean`` / ``std`` (Keras' ``preprocess_input``), or None.
    model_normalizes : the model normalizes 0..1 pixels itself (torchvision detection's
        ``transform``): ``mean`` / ``std`` are 0 / 1 so that nothing is normalized twice.
    """

    channels: int
    resize: tuple[int, ...]
    crop: tuple[int, ...] | None
    interpolation: InterpolationMode
    mean: tuple[float, ...]
    std: tuple[float, ...]
    function: Callable[[np.ndarray], Any] | None = None
    model_normalizes: bool = False

    def picture(self, img: Any) -> Image.Image:
        """Load ``img`` (anything :func:`load_image` accepts), convert, resize and crop it."""
        picture = to_mode(load_image(img), "L" if self.channels == 1 else "RGB")
        picture = F.resize(
            picture, list(self.resize), interpolation=self.interpolation, antialias=True
        )
        return picture if self.crop is None else F.center_crop(picture, list(self.crop))

    def tensor(self, picture: Image.Image) -> Tensor:
        """``[C, H, W]`` float32, normalized, from a picture made by :meth:`picture`."""
        if self.function is not None:
            pixels = np.asarray(picture, dtype=np.float32).reshape(
                picture.height, picture.width, -1
            )
            done = np.asarray(self.function(pixels[None].copy()), dtype=np.float32)
            return torch.from_numpy(np.ascontiguousarray(done[0].transpose(2, 0, 1)))
        tensor = F.convert_image_dtype(F.pil_to_tensor(picture), torch.float)
        return F.normalize(tensor, mean=list(self.mean), std=list(self.std))

    def caption(self) -> str:
        """How the pixels were scaled when that is unusual, in a few words (else "").

        The unit scale is the message ``unit_scale`` (a ``str``); a preprocess function is named
        as code, ``preprocess=module.function``.
        """
        if self.function is not None:
            return f"preprocess={_function_name(self.function)}"
        if self.model_normalizes:  # 0..1 pixels are what such a model (detection) is fed
            return ""
        if self.mean == (0.0,) * len(self.mean) and self.std == (1.0,) * len(self.std):
            return Message("unit_scale")
        return ""  # the usual mean/std normalization goes without saying

    def describe(self) -> dict[str, Any]:
        """The recipe as plain JSON values (for fingerprints and saved results)."""
        return {
            "channels": self.channels,
            "resize": list(self.resize),
            "crop": None if self.crop is None else list(self.crop),
            "interpolation": self.interpolation.value,
            "mean": list(self.mean),
            "std": list(self.std),
            **({"preprocess": _function_name(self.function)} if self.function is not None else {}),
        }


def _function_name(function: Callable) -> str:
    module = getattr(function, "__module__", "") or ""
    return f"{module}.{getattr(function, '__qualname__', repr(function))}".lstrip(".")


def preprocessing(
    model: nn.Module | None = None,
    *,
    weights: Any = None,
    size: int = 224,
    preprocess: Callable[[np.ndarray], Any] | None = None,
) -> Preprocessing:
    """The :class:`Preprocessing` that :func:`prepare_image` uses for these arguments.

    Examples
    --------
    >>> recipe = preprocessing(size=32)
    >>> recipe.resize, recipe.crop, tuple(recipe.tensor(recipe.picture(np.zeros((40, 60)))).shape)
    ((37,), (32,), (3, 32, 32))
    """
    model = check_model(model) if model is not None else None  # inside a compile/DP wrapper
    channels = _model_channels(model)
    default = owner_for(model).adapter.default_normalization() if model is not None else None
    if preprocess is not None and not callable(preprocess):
        raise TypeError(f"preprocess must be a function of a pixel batch, got {preprocess!r}")
    own = owner_for(model).adapter.image_list_input(model) if model is not None else None
    if own is not None:  # it normalizes (and resizes) inside: weights= only names its classes
        resize, crop, interpolation, mean, std = _own_preset(size, channels)
    else:
        resize, crop, interpolation, mean, std = _preset(weights, size, channels, default)
    return Preprocessing(
        channels=channels,
        resize=tuple(int(r) for r in resize),
        crop=None if crop is None else tuple(int(c) for c in crop),
        interpolation=interpolation,
        mean=tuple(mean),
        std=tuple(std),
        function=preprocess,
        model_normalizes=own is not None,
    )


# -- preprocessing settings --------------------------------------------------------------------


def _model_channels(model: nn.Module | None) -> int:
    if model is None:
        return 3
    channels = owner_for(check_model(model)).input_channels or 3
    if channels not in (1, 3):
        raise ValueError(
            f"the model's first convolution takes {channels} input channels; prepare_image "
            "makes 1-channel (grayscale) or 3-channel (RGB) batches: build this batch yourself"
        )
    return channels


def normalization(weights: Any = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The per-channel ``(mean, std)`` that images for ``weights`` are normalized with.

    Parameters
    ----------
    weights : a torchvision weights enum member, a transformers image processor, a timm data
        config (``resolve_data_config`` / ``pretrained_cfg``), or None
        Its ``transforms()`` preset (``image_mean`` / ``image_std``, ``mean`` / ``std``) gives
        ``mean`` and ``std``; None gives ImageNet's (:data:`IMAGENET_MEAN`,
        :data:`IMAGENET_STD`), the default of :func:`prepare_image`.

    Examples
    --------
    >>> normalization(None)
    ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    >>> from torchvision.models import ResNet18_Weights
    >>> normalization(ResNet18_Weights.IMAGENET1K_V1)[0]
    (0.485, 0.456, 0.406)
    """
    if weights is None:
        return IMAGENET_MEAN, IMAGENET_STD
    other = processor_preset(weights)
    if other is not None:
        return other.mean, other.std
    preset = _weights_preset(weights)
    return tuple(map(float, preset.mean)), tuple(map(float, preset.std))


def _weights_preset(weights: Any) -> Any:
    """``weights.transforms()``, checked to be an image preset with resize, mean and std."""
    if isinstance(weights, str) or not callable(getattr(weights, "transforms", None)):
        raise TypeError(
            f"weights must be a torchvision weights enum member such as "
            f"ResNet18_Weights.IMAGENET1K_V1 (never a string), a transformers image processor "
            f"or a timm data config (timm.data.resolve_data_config), got {weights!r}"
        )
    preset = weights.transforms()
    missing = [a for a in ("resize_size", "mean", "std") if not hasattr(preset, a)]
    if missing:
        raise ValueError(
            f"{weights!r}.transforms() is {type(preset).__name__}, not an image preset "
            "(no resize/mean/std); build the batch yourself"
        )
    return preset


def _own_preset(size: int, channels: int) -> tuple:
    """(resize, crop, interpolation, mean, std) for a model that normalizes its 0..1 pixels
    itself (torchvision detection): the short side resized to ``size``, a centre ``size``
    square (what every batch of the explorer and its examples is), no normalization."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int (pixels), got {size!r}")
    return [size], [size], InterpolationMode.BILINEAR, (0.0,) * channels, (1.0,) * channels


def _preset(weights: Any, size: int, channels: int, default: tuple | None = None) -> tuple:
    """(resize, crop, interpolation, mean, std) from ``weights.transforms()`` or the defaults
    (``default``: the framework's mean/std, Keras' [0, 1] pixels; else ImageNet's)."""
    mean, std = default if weights is None and default is not None else normalization(weights)
    if weights is None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int (pixels), got {size!r}")
        if channels == 1:  # the ImageNet statistics averaged over RGB, as a gray image has
            mean, std = (round(sum(mean) / 3, 3),), (round(sum(std) / 3, 3),)
        return [round(size * 256 / 224)], [size], InterpolationMode.BILINEAR, mean, std
    if channels != 3:
        raise ValueError("weights transforms are RGB, but the model's first conv takes 1 channel")
    other = processor_preset(weights)
    if other is not None:
        return other.resize, other.crop, other.interpolation, mean, std
    preset = weights.transforms()
    interpolation = getattr(preset, "interpolation", InterpolationMode.BILINEAR)
    return preset.resize_size, getattr(preset, "crop_size", None), interpolation, mean, std
