"""faithfulness(): do the pixels an attribution ranks first really carry the score? (RISE)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision.transforms.functional import gaussian_blur

from ..engine import check_model
from ..engine.attribution_perturb import perturbation_curve
from ._attribute import prepared_image
from ._result import Attribution


@dataclass(frozen=True)
class Faithfulness:
    """The deletion and insertion scores of one attribution (Petsiuk et al., BMVC 2018).

    Attributes
    ----------
    deletion : float
        Area under the deletion curve: the target's score as the most important pixels are
        deleted first. Lower is better (the score falls fast).
    insertion : float
        Area under the insertion curve: the score as the most important pixels are put back
        first into a blurred image. Higher is better.
    deletion_curve, insertion_curve : np.ndarray
        float64 ``[steps + 1]``: the scores (class probability, or a channel's mean).
    fractions : np.ndarray
        float64 ``[steps + 1]``: the fraction of pixels swapped at each point (0 to 1).
    """

    deletion: float
    insertion: float
    deletion_curve: np.ndarray
    insertion_curve: np.ndarray
    fractions: np.ndarray


def faithfulness(
    model: nn.Module,
    img: Any,
    attribution: Attribution,
    *,
    steps: int = 100,
    batch_size: int = 32,
    blur_sigma: float = 5.0,
    weights: Any = None,
    size: int | None = None,
) -> Faithfulness:
    """RISE's deletion and insertion scores of ``attribution`` for the model on ``img``.

    Pixels are ranked by the map as drawn (:meth:`Attribution.heat`), largest first. Deletion
    swaps them, in that order, for zero in the model's normalized input (the mean colour of
    its training data); insertion starts from the image blurred (Gaussian, ``blur_sigma``
    pixels, a kernel ``2 * ceil(2 * sigma) + 1`` wide) and puts the image's own pixels back. The score is the target class's softmax probability (a channel's mean for a
    ``(layer, channel)`` target), read ``steps + 1`` times; each area uses the trapezoid rule
    over the fraction of pixels swapped.

    Parameters
    ----------
    model : nn.Module
        The model the attribution explains; left as it was.
    img : image
        The image the attribution explains, with the same ``weights`` and ``size`` as given to
        :func:`attribute` (or the same :class:`~featviz_widgets.inputs.PreparedImage`).
    attribution : Attribution
        What :func:`attribute` returned.
    steps : int
        Points on each curve besides the start; every point is one image through the model.
    batch_size : int
        Perturbed images per forward (peak memory is bounded by it).
    blur_sigma : float
        The insertion's starting blur, in pixels of the model's input.

    Returns
    -------
    Faithfulness
        ``deletion``, ``insertion``, both curves and the ``fractions`` they are read at.

    Examples
    --------
    >>> result = attribute(model, "cat.jpg", weights=weights)  # doctest: +SKIP
    >>> scores = faithfulness(model, "cat.jpg", result, weights=weights)  # doctest: +SKIP
    >>> scores.deletion < scores.insertion  # doctest: +SKIP
    True
    """
    model = check_model(model)  # the network inside a compile/DataParallel wrapper
    if not isinstance(attribution, Attribution):
        raise TypeError(
            f"attribution must be what attribute() returned, got {type(attribution).__name__}"
        )
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if isinstance(blur_sigma, bool) or not isinstance(blur_sigma, int | float) or blur_sigma <= 0:
        raise ValueError(f"blur_sigma must be a positive number of pixels, got {blur_sigma!r}")
    height, width = attribution.map.shape
    side = size if size is not None else (height if height == width else None)
    prepared = prepared_image(model, img, weights, side)
    x = prepared.batch
    if tuple(x.shape[-2:]) != (height, width) or not np.array_equal(
        prepared.display, attribution.image
    ):
        raise ValueError(
            f"img is not the picture the attribution explains ({height} x {width}): pass the same "
            "img, weights and size as to attribute(), or the same PreparedImage"
        )
    order = np.argsort(-attribution.heat().ravel(), kind="stable")
    kernel = 2 * int(np.ceil(2 * blur_sigma)) + 1
    blurred = gaussian_blur(x, [kernel, kernel], [float(blur_sigma)] * 2)
    curve: dict[str, Any] = {"steps": steps, "batch_size": batch_size}
    target = attribution.target if attribution.box is None else None
    curve["box"] = attribution.box
    deletion = perturbation_curve(model, x, target, order, torch.zeros_like(x), **curve)
    insertion = perturbation_curve(model, blurred, target, order, x, **curve)
    fractions = np.array([k * (height * width) // steps for k in range(steps + 1)], np.float64)
    fractions /= height * width
    return Faithfulness(
        deletion=_area(fractions, deletion),
        insertion=_area(fractions, insertion),
        deletion_curve=deletion,
        insertion_curve=insertion,
        fractions=fractions,
    )


def _area(fractions: np.ndarray, scores: np.ndarray) -> float:
    """The area under ``scores`` over ``fractions`` by the trapezoid rule."""
    return float(((fractions[1:] - fractions[:-1]) * (scores[1:] + scores[:-1]) / 2).sum())
