"""Encoding: uint8 images -> PNG (fast zlib level by default) or JPEG bytes, through PIL."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def _to_pil(img: np.ndarray, *, allow_alpha: bool) -> Image.Image:
    array = np.asarray(img)
    if array.dtype != np.uint8:
        raise TypeError(
            f"expected a uint8 image, got {array.dtype}; colour float data first with colorize() or grid()"
        )
    channels = (3, 4) if allow_alpha else (3,)
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in channels)):
        raise ValueError(
            f"expected an image [H, W] or [H, W, {'3|4' if allow_alpha else 3}], got {array.shape}"
        )
    if array.ndim == 3 and array.shape[2] == 3 and _is_grey(array):
        array = array[
            :, :, 0
        ]  # a grey picture (cmap "gray") encodes 2-3x faster as one byte per pixel
    return Image.fromarray(np.ascontiguousarray(array))


def _is_grey(rgb: np.ndarray) -> bool:
    return bool(
        np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2])
    )


_Z_RLE = 3  # zlib strategy: run-length matches only, ~2x faster than the default at level 1


def _save_png(image: Image.Image, compress_level: int, *, rle: bool = True) -> bytes:
    """PNG bytes; level 1 (the fast default) uses zlib's RLE strategy unless ``rle=False``."""
    if not 0 <= compress_level <= 9:
        raise ValueError(f"compress_level must be 0..9, got {compress_level}")
    strategy = _Z_RLE if compress_level == 1 and rle else -1
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level, compress_type=strategy)
    return buffer.getvalue()


def to_png(img: np.ndarray, compress_level: int = 1) -> bytes:
    """Encode a uint8 image ``[H, W]``, ``[H, W, 3]`` or ``[H, W, 4]`` as PNG bytes.

    ``compress_level`` 1 (zlib's fastest level with its run-length strategy, which suits feature maps)
    keeps encoding cheap; 9 is smallest. Grey RGB images are
    stored losslessly as 8-bit greyscale (decode with ``.convert("RGB")`` to get three channels).

    Examples
    --------
    >>> to_png(np.zeros((4, 4, 3), np.uint8))[:4]
    b'\\x89PNG'
    """
    return _save_png(_to_pil(img, allow_alpha=True), compress_level)


def to_jpeg(img: np.ndarray, quality: int = 85) -> bytes:
    """Encode a uint8 image ``[H, W]`` or ``[H, W, 3]`` as JPEG bytes (small previews; lossy).

    Examples
    --------
    >>> to_jpeg(np.zeros((8, 8, 3), np.uint8))[:2]
    b'\\xff\\xd8'
    """
    if not 1 <= quality <= 95:
        raise ValueError(f"quality must be 1..95, got {quality}")
    buffer = io.BytesIO()
    _to_pil(img, allow_alpha=False).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
