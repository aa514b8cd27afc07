"""sanity_check(): does the explanation depend on what the model learned? (model randomization)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from ..engine import check_model
from ..engine.attribution_random import randomized_copy
from ._attribute import attribute, prepared_image
from ._result import Attribution


@dataclass(frozen=True)
class SanityCheck:
    """The model-randomization test of one method on one image.

    Attributes
    ----------
    method : str
    correlation : float
        Spearman's rank correlation between the two maps (as drawn, :meth:`Attribution.heat`):
        near 1, the map did not change; near 0 or below, it did. 0.0 when exactly one map is
        constant, 1.0 when both are the same constant.
    passed : bool
        Whether the map changed: ``correlation < threshold``.
    verdict : str
        One sentence saying so, for people.
    original, randomized : Attribution
        The method's answer on the model, and on the copy (same target and layer).
    layers : tuple[str, ...]
        The layers re-initialized in the copy.
    threshold : float
    """

    method: str
    correlation: float
    passed: bool
    verdict: str
    original: Attribution
    randomized: Attribution
    layers: tuple[str, ...]
    threshold: float


def sanity_check(
    model: nn.Module,
    img: Any,
    method: str = "gradcam",
    target: int | str | tuple[str, int] | None = None,
    *,
    top_layers: int = 2,
    seed: int = 0,
    threshold: float = 0.8,
    layer: str | None = None,
    weights: Any = None,
    size: int | None = None,
    labels: Sequence[str] | None = None,
    **options: Any,
) -> SanityCheck:
    """The model-randomization test of Adebayo et al. ("Sanity Checks for Saliency Maps",
    NeurIPS 2018): explain ``target`` with ``method`` on the model and on a copy of it whose top
    layers are re-initialized; a map that barely changes does not explain the model.

    Parameters
    ----------
    model : nn.Module
        A torch network; only read (the copy is made with ``copy.deepcopy``).
    img, target, layer, weights, size, labels, **options
        As for :func:`attribute`; the copy explains the same target (the model's top class when
        None) at the same layer.
    method : str
        One of :data:`METHODS`.
    top_layers : int
        How many of the last layers with parameters to re-initialize (their own
        ``reset_parameters``): 2 re-initializes a classifier and the layer before it.
    seed : int
        Seeds the re-initialization (the caller's random generator is left alone).
    threshold : float
        The map "changed" when the rank correlation falls below it.

    Returns
    -------
    SanityCheck
        ``correlation``, ``passed``, ``verdict``, both attributions and the layers reset.

    Examples
    --------
    >>> check = sanity_check(model, "cat.jpg", "guided_backprop", weights=weights)  # doctest: +SKIP
    >>> check.passed, round(check.correlation, 2)  # doctest: +SKIP
    (False, 0.99)
    """
    model = check_model(model)  # the network inside a compile/DataParallel wrapper
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise TypeError(f"threshold must be a number in (-1, 1], got {type(threshold).__name__}")
    if not -1.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (-1, 1] (a rank correlation), got {threshold!r}")
    prepared = prepared_image(model, img, weights, size)
    common = {"method": method, "weights": weights, "labels": labels, **options}
    original = attribute(model, prepared, target, layer=layer, **common)
    twin, names = randomized_copy(model, top_layers, seed)
    same = {"box": original.box} if original.box is not None else {"target": original.target}
    randomized = attribute(twin, prepared, layer=original.layer, **same, **common)
    correlation = rank_correlation(original.heat(), randomized.heat())
    passed = correlation < threshold
    return SanityCheck(
        method=original.method,
        correlation=correlation,
        passed=passed,
        verdict=_verdict(original.method, correlation, passed, threshold, len(names)),
        original=original,
        randomized=randomized,
        layers=tuple(names),
        threshold=float(threshold),
    )


def _verdict(method: str, correlation: float, passed: bool, threshold: float, count: int) -> str:
    reset = f"re-initializing the top {count} layer{'s' if count != 1 else ''}"
    if passed:
        return (
            f"{method} passes: {reset} changed its map (rank correlation {correlation:.2f} < "
            f"{threshold:g}), so the map depends on what the model learned"
        )
    return (
        f"{method} fails: {reset} barely changed its map (rank correlation {correlation:.2f} >= "
        f"{threshold:g}), so the map shows the image more than the model's reasoning"
    )


def rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rank correlation of two maps of one shape (ties get their average rank).

    0.0 when exactly one map is constant (it changed into, or from, no ranking at all); 1.0 when
    both are the same constant.

    Examples
    --------
    >>> rank_correlation(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 15.0]))
    0.5
    """
    if first.shape != second.shape:
        raise ValueError(f"the maps differ in shape: {first.shape} and {second.shape}")
    ranks = [_ranks(np.asarray(values, dtype=np.float64).ravel()) for values in (first, second)]
    centered = [r - r.mean() for r in ranks]
    norms = [float(np.sqrt((c * c).sum())) for c in centered]
    if norms[0] == 0.0 or norms[1] == 0.0:
        same = norms[0] == norms[1] and np.array_equal(first, second)
        return 1.0 if same else 0.0
    return float((centered[0] * centered[1]).sum() / (norms[0] * norms[1]))


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0, 1, 2, ... in sorted order, tied values sharing their average rank."""
    order = np.argsort(values, kind="stable")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(first + (counts - 1) / 2.0, counts)
    return ranks
