"""Per-channel statistics for captions and for ranking channels (e.g. the most active one, to overlay)."""

from __future__ import annotations

import numpy as np

STATS = ("mean", "max", "std", "frac_pos")


def channel_stats(acts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel ``mean``, ``max``, ``std`` and ``frac_pos`` (fraction > 0) of ``[C, ...]``: float32 ``[C]``.

    A 1-D input ``[N]`` is N one-value channels (e.g. logits). Non-finite values propagate (NaN / inf
    statistics), never a warning.

    Examples
    --------
    >>> channel_stats(np.array([[0.0, 2.0], [-1.0, 1.0]]))["frac_pos"]
    array([0.5, 0.5], dtype=float32)
    """
    array = np.asarray(acts, dtype=np.float32)
    if array.ndim < 1 or array.size == 0:
        raise ValueError(
            f"channel_stats expects a non-empty [C, ...] array, got shape {array.shape}"
        )
    flat = array.reshape(array.shape[0], -1)
    with np.errstate(invalid="ignore", over="ignore"):
        stats = {
            "mean": flat.mean(axis=1, dtype=np.float64),
            "max": flat.max(axis=1),
            "std": flat.std(axis=1, dtype=np.float64),
            "frac_pos": np.count_nonzero(flat > 0, axis=1) / flat.shape[1],
        }
    return {name: value.astype(np.float32) for name, value in stats.items()}


def top_k(acts: np.ndarray, k: int, by: str = "mean") -> np.ndarray:
    """Indices of the ``k`` strongest channels by a :func:`channel_stats` key, strongest first.

    Ties keep channel order; NaN statistics rank last; ``k`` larger than C returns all channels.

    Examples
    --------
    >>> top_k(np.array([[1.0], [3.0], [2.0]]), 2)
    array([1, 2])
    """
    if by not in STATS:
        raise ValueError(f"unknown statistic {by!r}; choose one of {', '.join(STATS)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    score = channel_stats(acts)[by].astype(np.float64)
    score[np.isnan(score)] = -np.inf
    return np.argsort(-score, kind="stable")[:k]
