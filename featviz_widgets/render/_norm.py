"""Normalization: any activation array [C, ...] -> float32 in [0, 1], one scale per channel or per layer.

Every mode reduces to one affine map per channel, ``(x - lo) / span`` clipped to [0, 1], so the expensive
part (the statistics) is a few reductions and the image itself takes two passes.
"""

from __future__ import annotations

import numpy as np

from .._text import close_names
from ..messages import MessageValueError

NORMALIZATIONS = ("channel", "layer", "meanstd", "percentile", "signed")


def normalize(acts: np.ndarray, mode: str = "channel") -> np.ndarray:
    """Scale activations ``[C, ...]`` to float32 in [0, 1].

    Modes: ``"channel"`` min-max per channel; ``"layer"`` one min-max for all channels (strong channels
    stand out); ``"meanstd"`` per channel ``(x - mean) / std * 64 + 128`` clipped to 0..255, divided by 255
    (the Keras tutorial recipe); ``"percentile"`` per channel, the 1st..99th percentile stretched to 0..1
    and clipped (a channel whose two percentiles coincide falls back to min-max, so sparse spikes stay
    visible); ``"signed"`` per channel ``x / max|x|`` mapped so that 0 -> 0.5 (pair it with a diverging
    colormap such as ``"RdBu_r"``; a constant ``c != 0`` keeps its sign, 0 or 1).

    Statistics use finite values only. Non-finite inputs become NaN (drawn in the marker colour by
    :func:`colorize`); a constant channel (constant layer for ``"layer"``) becomes 0.5. Never warns.

    Examples
    --------
    >>> normalize(np.array([[0.0, 5.0, 10.0], [3.0, 3.0, 3.0]]))
    array([[0. , 0.5, 1. ],
           [0.5, 0.5, 0.5]], dtype=float32)
    """
    acts = _as_channels(acts)
    return _normalize(acts, mode, acts)


def _as_channels(acts: np.ndarray) -> np.ndarray:
    """Validate ``[C, ...]`` input and return it as a float32 array (no copy when already float32)."""
    if isinstance(acts, np.ndarray) and acts.dtype == np.float32:
        array = acts
    else:
        with np.errstate(
            over="ignore"
        ):  # float64 beyond float32 range -> inf -> drawn as non-finite
            array = np.asarray(acts, dtype=np.float32)
    if array.ndim < 2:
        raise ValueError(
            f"normalize expects [C, ...] with at least 2 dimensions, got shape {array.shape}; "
            "for a single vector pass vec[None] to normalize it as one channel"
        )
    if array.size == 0:
        raise ValueError(f"cannot normalize an empty array of shape {array.shape}")
    return array


def _check_mode(mode: str) -> None:
    if mode not in NORMALIZATIONS:
        raise MessageValueError(
            "unknown_normalization", name=mode, choices=", ".join(NORMALIZATIONS),
            close=close_names(mode, NORMALIZATIONS),
        )  # fmt: skip


def _normalize(page: np.ndarray, mode: str, layer: np.ndarray) -> np.ndarray:
    """Normalize ``page`` (float32 [n, ...]); ``layer`` is the whole layer, used by the "layer" mode."""
    _check_mode(mode)
    flat = page.reshape(page.shape[0], -1)
    finite = np.isfinite(flat)
    finite = None if finite.all() else finite
    if mode == "layer":
        lo, span = _layer_scale(layer, page, finite)
    else:
        lo, span = _CHANNEL_SCALES[mode](flat, finite)
    return _scale01(flat, lo, span, finite).reshape(page.shape)


def _scale01(
    flat: np.ndarray, lo: np.ndarray, span: np.ndarray, finite: np.ndarray | None
) -> np.ndarray:
    """``(x - lo) / span`` per row of float32 ``flat``, clipped to [0, 1].

    Computed about the row's midpoint, ``(x - mid) / span + 0.5``, so the midpoint itself (0 in the
    "signed" mode) lands on exactly 0.5. A row whose ``span`` is 0 or subnormal (a constant channel)
    becomes 0.5;
    values where ``finite`` is False become NaN (``finite=None``: all values are finite).
    """
    # A span below float32's smallest normal number is a constant channel too: its inverse
    # would overflow float32 (EfficientNetV2's nearly constant late layers reach that).
    constant = span < np.finfo(np.float32).tiny
    inv = np.where(constant, 0.0, 1.0 / np.where(constant, 1.0, span)).astype(np.float32)
    mid = (lo + 0.5 * span).astype(np.float32)
    with np.errstate(all="ignore"):  # inf inputs overflow harmlessly; they are masked below
        out = np.subtract(flat, mid[:, None], dtype=np.float32)
        out *= inv[:, None]
        out += np.float32(0.5)
    np.clip(out, 0.0, 1.0, out=out)
    out[constant] = 0.5
    if finite is not None:
        out[~finite] = np.nan
    return out


def _masked(flat: np.ndarray, finite: np.ndarray | None, fill: float) -> np.ndarray:
    return flat if finite is None else np.where(finite, flat, np.float32(fill))


def _min_max(flat: np.ndarray, finite: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    lo = _masked(flat, finite, np.inf).min(axis=1).astype(np.float64)
    hi = _masked(flat, finite, -np.inf).max(axis=1).astype(np.float64)
    empty = ~np.isfinite(lo)  # channels without a single finite value: any scale, all masked anyway
    lo[empty], hi[empty] = 0.0, 0.0
    return lo, hi


def _channel_scale(flat, finite):
    lo, hi = _min_max(flat, finite)
    return lo, hi - lo


def _layer_scale(layer, page, finite):
    whole = layer.reshape(1, -1)
    whole_finite = np.isfinite(whole)
    lo, hi = _min_max(whole, None if whole_finite.all() else whole_finite)
    n = page.shape[0]
    return np.repeat(lo, n), np.repeat(hi - lo, n)


def _meanstd_scale(flat, finite):
    if finite is None:
        mean = flat.mean(axis=1, dtype=np.float64)
        std = flat.std(axis=1, dtype=np.float64)
    else:
        count = np.maximum(finite.sum(axis=1), 1)
        values = np.where(finite, flat, 0.0)
        mean = values.sum(axis=1, dtype=np.float64) / count
        centred = np.where(finite, flat - mean[:, None], 0.0)
        std = np.sqrt((centred * centred).sum(axis=1, dtype=np.float64) / count)
    # (x - mean) / std * 64 + 128, clipped to 0..255, over 255 == (x - (mean - 2 std)) / (std * 255 / 64)
    return mean - 2.0 * std, std * (255.0 / 64.0)


def _percentile_scale(flat, finite):
    if finite is None:
        lo, hi = np.percentile(flat, [1.0, 99.0], axis=1)
    else:
        # rows without a finite value would make nanpercentile warn; they are masked in the output anyway
        values = np.where(finite, flat, np.nan)
        values[~finite.any(axis=1)] = 0.0
        lo, hi = np.nanpercentile(values, [1.0, 99.0], axis=1)
    lo, hi = lo.astype(np.float64), hi.astype(np.float64)
    flat_pct = hi == lo  # e.g. a mostly-zero channel with a few spikes: use its min-max instead
    if flat_pct.any():
        sub = None if finite is None else finite[flat_pct]
        lo[flat_pct], hi[flat_pct] = _min_max(flat[flat_pct], sub)
    return lo, hi - lo


def _signed_range(peak: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, span) of the "signed" mode: ``[-peak, peak]`` -> [0, 1], so 0 -> 0.5."""
    return -peak, 2.0 * peak


def _signed_scale(flat, finite):
    lo, hi = _min_max(flat, finite)
    return _signed_range(np.maximum(np.abs(lo), np.abs(hi)))


def _signed01(values: np.ndarray, peak: float) -> np.ndarray:
    """``normalize(values[None], "signed")`` with a given ``peak`` instead of the values' own.

    For one page of a larger array (a Linear weight matrix) drawn on the whole array's colour scale.
    """
    flat = np.asarray(values, dtype=np.float32).reshape(1, -1)
    finite = np.isfinite(flat)
    lo, span = _signed_range(np.array([peak], dtype=np.float64))
    return _scale01(flat, lo, span, None if finite.all() else finite).reshape(np.shape(values))


_CHANNEL_SCALES = {
    "channel": _channel_scale,
    "meanstd": _meanstd_scale,
    "percentile": _percentile_scale,
    "signed": _signed_scale,
}
