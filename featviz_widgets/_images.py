"""Anything a user calls an image -> a PIL image (private; public as ``inputs.load_image``).

Paths (PIL's decompression-bomb guard on), PIL images, NumPy arrays (HW or HWC, uint8, uint16 or
float) and tensors (HW, CHW, NCHW with N = 1) are decoded here, and clips into their frames
(``load_clip``: lists of frames, ``(T, H, W, C)`` arrays, ``(C, T, H, W)`` tensors); the caller's
object is never modified.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from .messages import Message, MessageTypeError, MessageValueError


def load_image(img: Any) -> Image.Image:
    """Turn a PIL image, path, array or tensor into a PIL image (never modifying the input).

    Arrays are HW or HWC (1, 3 or 4 channels), uint8 or float in 0..1 or 0..255 (uint16 is
    scaled from 0..65535); tensors are HW, CHW or NCHW with N = 1. PIL's decompression-bomb
    guard stays on for files.

    Examples
    --------
    >>> load_image(np.zeros((4, 6), np.float32)).size
    (6, 4)
    """
    if isinstance(img, Image.Image):
        return img
    if isinstance(img, str | os.PathLike):
        return _open(os.fspath(img))
    if isinstance(img, bytes | bytearray) or hasattr(img, "read"):
        return _open_stream(img)
    if isinstance(img, Tensor):
        return _from_array(_tensor_to_hwc(img), "tensor")
    if isinstance(img, np.ndarray):
        return _from_array(_check_array_layout(img), "array")
    code = "image_frames" if isinstance(img, list | tuple) else "image_type"
    raise MessageTypeError(code, kind=type(img).__name__)


# -- decoding ------------------------------------------------------------------------------------


def _open_stream(stream: Any) -> Image.Image:
    """An open binary file (``matplotlib.cbook.get_sample_data`` returns one) or raw bytes.

    The caller's file is read from where it stands and put back there: it is not consumed.
    """
    if isinstance(stream, bytes | bytearray):
        return _open(io.BytesIO(bytes(stream)), Message("given_bytes"))
    start = stream.tell() if getattr(stream, "seekable", lambda: False)() else None
    try:
        data = stream.read()
    finally:
        if start is not None:
            stream.seek(start)
    if not isinstance(data, bytes):
        raise MessageTypeError("image_text_mode")
    name = getattr(stream, "name", None)
    return _open(io.BytesIO(data), Message("file_object") if name is None else repr(name))


def _open(path: str | io.BytesIO, name: str | None = None) -> Image.Image:
    """Decode one image; ``name`` says which in errors (the path's repr when None)."""
    if name is None:
        _check_file(path)
        name = repr(path)
    try:
        with Image.open(path) as opened:
            opened.load()  # decode now: the file closes when this block ends
            # Phone photos store their rotation in EXIF; show them the way they were taken.
            return ImageOps.exif_transpose(opened)
    except Image.DecompressionBombError as err:
        raise MessageValueError("image_too_large", name=name, error=str(err)) from err
    except UnidentifiedImageError as err:
        raise MessageValueError("bad_image", name=name) from err
    except OSError as err:  # truncated or corrupt data
        raise MessageValueError("image_truncated", name=name, error=str(err)) from err


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise MessageValueError("image_not_found", path=path, cwd=os.getcwd())
    if os.path.isdir(path):
        raise MessageValueError("image_directory", path=path)


def to_mode(picture: Image.Image, mode: str) -> Image.Image:
    """Convert any PIL mode to ``"L"`` or ``"RGB"`` (transparency over white, 16-bit scaled)."""
    if picture.mode == mode:
        return picture
    if picture.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # PIL's own convert clips these to 0..255; scale them like an array instead.
        return to_mode(_from_array(np.asarray(picture), "image"), mode)
    if picture.mode == "P":
        picture = picture.convert("RGBA" if "transparency" in picture.info else "RGB")
    if {"A", "a"} & set(picture.getbands()):
        rgba = picture.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(white, rgba)
    return picture.convert(mode)


def _tensor_to_hwc(tensor: Tensor) -> np.ndarray:
    shape = tuple(tensor.shape)
    if tensor.dim() == 4:
        if shape[0] != 1:
            raise ValueError(
                f"tensor holds a batch of {shape[0]} images {shape}; pass one image, e.g. x[0]"
            )
        tensor = tensor[0]
    if tensor.dim() == 3:
        if shape[-3] not in (1, 3, 4):
            hint = " (channels-last? use t.permute(2, 0, 1))" if shape[-1] in (1, 3, 4) else ""
            raise ValueError(
                f"tensor of shape {shape} has {shape[-3]} channels{hint}; expected CHW with "
                "1, 3 or 4 channels"
            )
        tensor = tensor.permute(1, 2, 0)
    elif tensor.dim() != 2:
        raise ValueError(
            f"tensor of shape {shape} has {tensor.dim()} dims; pass HW, CHW or NCHW (N = 1)"
            + ("; a (1, C, T, H, W) clip is for a video model (a Conv3d stem): pass one frame, "
               "x[0, :, t]" if tensor.dim() == 5 else "")
        )  # fmt: skip
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"tensor dtype {tensor.dtype} is not an image dtype; use uint8 or float")
    if tensor.is_floating_point() and tensor.dtype != torch.float64:
        tensor = tensor.float()  # NumPy has no bfloat16
    return tensor.detach().cpu().numpy()


def _check_array_layout(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[-1] not in (1, 3, 4):
        hint = " (channels-first? use a.transpose(1, 2, 0))" if array.shape[0] in (1, 3, 4) else ""
        raise ValueError(
            f"array of shape {array.shape} has {array.shape[-1]} channels{hint}; expected HWC "
            "with 1, 3 or 4 channels"
        )
    if array.ndim not in (2, 3):
        clip = (
            "; a (T, H, W, C) clip is for a video model: pass one frame, a[t]"
            if array.ndim == 4
            else ""
        )
        raise ValueError(
            f"array of shape {array.shape} has {array.ndim} dims; pass HW or HWC{clip}"
        )
    return array


def _from_array(array: np.ndarray, what: str) -> Image.Image:
    """HW / HWC array of any numeric dtype -> PIL L / RGB / RGBA (a new image)."""
    if array.size == 0:
        raise MessageValueError("image_empty", what=what, shape=array.shape)
    pixels = _to_uint8(array, what)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[pixels.ndim if pixels.ndim == 2 else pixels.shape[-1]]
    return Image.fromarray(np.ascontiguousarray(pixels), mode=mode)


def _to_uint8(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{what} dtype {array.dtype} is not an image dtype; use uint8 or float")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{what} dtype {array.dtype} is complex; pass real pixel values")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise MessageValueError("image_not_finite", what=what)
    low, high = float(values.min()), float(values.max())
    if low < 0:
        raise MessageValueError("image_negative", what=what, low=low)
    if np.issubdtype(array.dtype, np.floating):
        scale = 255.0 if high <= 1.0 else 1.0
    elif array.dtype == np.uint16 or high > 255:  # 16-bit images span 0..65535
        scale = 255.0 / 65535.0
    else:  # other integers in 0..255 are 8-bit pixels in a wider type
        scale = 1.0
    if high * scale > 255.0 + 1e-6:
        raise ValueError(
            f"the {what}'s pixels reach {high:.6g}; expected uint8, float in 0..1 or 0..255, "
            "or 16-bit integers: rescale it first"
        )
    return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)


# -- clips -----------------------------------------------------------------------------------------

_CLIP_FORMS = (
    "a (T, H, W, 3) uint8 array, a list of frames (PIL images, arrays, paths or tensors), or a "
    "(C, T, H, W) / (1, C, T, H, W) tensor"
)


def load_clip(clip: Any) -> list[Image.Image]:
    """Turn a clip into its frames as PIL images (never modifying the input).

    Accepted: a list or tuple of frames (anything :func:`load_image` accepts), a ``(T, H, W, C)``
    array (C = 1, 3 or 4; uint8, or float in 0..1 or 0..255, scaled for the whole clip at once)
    and a ``(C, T, H, W)`` or ``(1, C, T, H, W)`` tensor.

    Examples
    --------
    >>> [frame.size for frame in load_clip(np.zeros((2, 4, 6, 3), np.uint8))]
    [(6, 4), (6, 4)]
    """
    if isinstance(clip, list | tuple):
        if not clip:
            raise MessageValueError("clip_empty")
        frames = [load_image(frame) for frame in clip]
        sizes = {frame.size for frame in frames}
        if len(sizes) > 1:
            raise MessageValueError("clip_sizes", sizes=sorted(sizes))
        return frames
    if isinstance(clip, Tensor):
        return _split(_clip_tensor_to_thwc(clip), "clip tensor")
    if isinstance(clip, np.ndarray):
        return _split(_check_clip_array(clip), "clip array")
    raise MessageTypeError("clip_type", kind=type(clip).__name__)


def _split(array: np.ndarray, what: str) -> list[Image.Image]:
    """``(T, H, W, C)`` pixels -> T frames, scaled to uint8 once for the whole clip."""
    if array.size == 0:
        raise ValueError(f"the {what} is empty (shape {array.shape}); pass frames with pixels")
    pixels = _to_uint8(array, what)
    return [_from_array(frame, what) for frame in pixels]


def _check_clip_array(array: np.ndarray) -> np.ndarray:
    if array.ndim != 4:
        raise ValueError(
            f"a clip array has 4 dims (T, H, W, C); got shape {array.shape}. Pass {_CLIP_FORMS}"
        )
    if array.shape[-1] not in (1, 3, 4):
        hint = " ((T, C, H, W)? use a.transpose(0, 2, 3, 1))" if array.shape[1] in (1, 3) else ""
        raise ValueError(
            f"clip array of shape {array.shape} has {array.shape[-1]} channels{hint}; expected "
            "(T, H, W, C) with 1, 3 or 4 channels"
        )
    return array


def _clip_tensor_to_thwc(tensor: Tensor) -> np.ndarray:
    shape = tuple(tensor.shape)
    if tensor.dim() == 5:
        if shape[0] != 1:
            raise ValueError(
                f"tensor holds a batch of {shape[0]} clips {shape}; pass one clip, e.g. x[0]"
            )
        tensor = tensor[0]
    if tensor.dim() != 4:
        raise ValueError(
            f"a clip tensor is (C, T, H, W) or (1, C, T, H, W); got shape {shape}. Pass {_CLIP_FORMS}"
        )
    if tensor.shape[0] not in (1, 3, 4):
        hint = " ((T, C, H, W)? use x.permute(1, 0, 2, 3))" if tensor.shape[1] in (1, 3) else ""
        raise ValueError(
            f"clip tensor of shape {shape} has {tensor.shape[0]} channels{hint}; expected "
            "(C, T, H, W) with 1, 3 or 4 channels"
        )
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"tensor dtype {tensor.dtype} is not an image dtype; use uint8 or float")
    if tensor.is_floating_point() and tensor.dtype != torch.float64:
        tensor = tensor.float()  # NumPy has no bfloat16
    return tensor.detach().cpu().permute(1, 2, 3, 0).numpy()
