"""Colormaps as lookup tables: matplotlib's registry is read once per name, colouring is one ``np.take``."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .._text import close_names
from ..messages import MessageTypeError, MessageValueError

NAN_COLOR = (255, 0, 255)  # magenta: not in any sequential colormap, so non-finite values stand out
PAD_COLOR = (255, 255, 255)  # separators and empty grid slots: the notebook background
_COMMON = ("gray", "viridis", "magma", "inferno", "cividis", "RdBu_r", "coolwarm", "jet")


def colormap_lut(name: str) -> np.ndarray:
    """Return matplotlib colormap ``name`` as a read-only uint8 ``[256, 3]`` table (cached).

    Examples
    --------
    >>> colormap_lut("gray")[[0, 255]]
    array([[  0,   0,   0],
           [255, 255, 255]], dtype=uint8)
    """
    if not isinstance(name, str):
        raise MessageTypeError("colormap_type", kind=type(name).__name__)
    return _lut(name)


@lru_cache(maxsize=64)
def _lut(name: str) -> np.ndarray:
    import matplotlib  # the colormap registry only: importing it loads no backend and no pyplot

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        names = sorted(matplotlib.colormaps)
        raise MessageValueError(
            "unknown_colormap", name=name, close=close_names(name, names, n=3),
            common=", ".join(_COMMON), count=len(names),
        ) from None  # fmt: skip
    # the 256 entries cmap(x) picks with index floor(x * 256); other sizes sampled at bin centres
    rgba = cmap(np.arange(256)) if cmap.N == 256 else cmap((np.arange(256) + 0.5) / 256)
    lut = np.round(rgba[:, :3] * 255.0).astype(np.uint8)
    lut.setflags(write=False)
    return lut


@lru_cache(maxsize=64)
def _palette(name: str, levels: int) -> np.ndarray:
    """``levels`` colours of ``name``, then the NaN marker (index levels) and the separator (levels + 1)."""
    lut = colormap_lut(name)
    if levels != 256:
        lut = lut[np.round(np.arange(levels) * (255.0 / (levels - 1))).astype(np.intp)]
    table = np.concatenate([lut, np.array([NAN_COLOR, PAD_COLOR], dtype=np.uint8)])
    table.setflags(write=False)
    return table


def _quantize(x01: np.ndarray, levels: int = 256) -> np.ndarray:
    """Float in [0, 1] -> level index ``floor(x * levels)`` (matplotlib's rule); NaN -> ``levels``."""
    index = np.multiply(x01, levels, dtype=np.float32)
    np.clip(index, 0, levels - 1, out=index)
    nan = np.isnan(index)
    if nan.any():
        index[nan] = levels
    return index.astype(np.uint8 if levels + 2 <= 256 else np.uint16)


def colorize(x01: np.ndarray, cmap: str = "gray") -> np.ndarray:
    """Colour an array of values in [0, 1] (clipped) with a colormap: ``[...]`` -> uint8 ``[..., 3]``.

    Matches matplotlib's ``cmap(x)`` (same entry, ``floor(x * 256)``), rounded to uint8. NaN is drawn
    magenta (``NAN_COLOR``).

    Examples
    --------
    >>> colorize(np.array([0.0, 1.0, np.nan]), "gray")
    array([[  0,   0,   0],
           [255, 255, 255],
           [255,   0, 255]], dtype=uint8)
    """
    colormap_lut(cmap)  # validates the name (cached)
    palette = _palette(cmap, 256)
    return np.take(palette, _quantize(np.asarray(x01, dtype=np.float32)), axis=0)
