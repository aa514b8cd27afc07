"""Perturbation curves: the target's score as pixels are swapped, most important first.

The deletion and insertion metrics of RISE (Petsiuk et al., BMVC 2018) are two such curves:
deletion swaps the image's pixels for a plain substrate, insertion swaps a blurred image's
pixels for the image's own. One function serves both; the perturbed images are scored
``batch_size`` at a time, without gradients, inside the model's owner.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ._facts import class_scores
from ._state import check_model
from .attribution_layers import model_layers
from .attribution_target import parse_goal, scores_of, top_goal
from .owner import owner_for

__all__ = ["perturbation_curve"]


def perturbation_curve(
    model: nn.Module,
    x: Tensor,
    target: int | tuple[str, int] | None,
    order: np.ndarray,
    substrate: Tensor,
    *,
    steps: int,
    batch_size: int,
    box: int | None = None,
) -> np.ndarray:
    """The target's score on ``x`` ``[1, C, H, W]`` with its pixels swapped for ``substrate``'s
    in ``order``, at ``steps + 1`` points: after 0, N/steps, 2N/steps, ..., N of the N pixels
    (rounded down).

    The score is the class's softmax probability (a class index of a classifier), else the
    goal's own score (:class:`~.attribution_target.Goal`: a channel's mean, a detection's
    score, a segmentation class's summed pixel scores). ``order``: int [N] flat pixel indices, first swapped first.
    Returns float64 ``[steps + 1]``.
    """
    model = check_model(model)  # the network inside a compile/DataParallel wrapper
    height, width = int(x.shape[-2]), int(x.shape[-1])
    pixels = height * width
    if order.shape != (pixels,):
        raise ValueError(f"order must list the {pixels} pixels of the image, got {order.shape}")
    counts = [k * pixels // steps for k in range(steps + 1)]
    # rank[p]: when pixel p is swapped; the image after k swaps takes the substrate where
    # rank < count, so every perturbed image is one comparison, made batch by batch.
    rank = torch.empty(pixels, dtype=torch.long)
    rank[torch.from_numpy(np.ascontiguousarray(order, dtype=np.int64))] = torch.arange(pixels)
    owner = owner_for(model)
    scores = []
    with owner.using(), torch.no_grad():
        owner.adapter.freeze(model)
        x = x.detach().to(device=owner.device, dtype=owner.dtype)
        substrate = substrate.detach().to(device=owner.device, dtype=owner.dtype)
        rank = rank.to(owner.device).view(1, 1, height, width)
        goal = top_goal(model, x, parse_goal(owner, model_layers(owner, x), target, box))[0]
        for start in range(0, len(counts), batch_size):
            chunk = torch.tensor(counts[start : start + batch_size], device=owner.device)
            swapped = rank < chunk.view(-1, 1, 1, 1)  # [B, 1, H, W]
            batch = torch.where(swapped, substrate, x)
            values, output = scores_of(model, batch, goal)
            if goal.is_class:
                logits = class_scores(output)
                values = torch.softmax(logits.float(), dim=1)[:, goal.describe()]
            scores.append(values.float().cpu())
    return torch.cat(scores).numpy().astype(np.float64)
