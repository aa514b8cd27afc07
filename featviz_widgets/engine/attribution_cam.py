"""The CAM family on one layer's maps: how each method weighs the channels.

Every method ends the same way: per-channel terms ``[C, h, w]`` are summed over the channels and
clipped at zero (``cam = relu(sum_c term_c)``); a method only says what ``term_c`` is:

- ``gradcam`` (Selvaraju et al. 2017): ``mean(grad_c) * act_c``;
- ``gradcam++`` (Chattopadhyay et al. 2018): ``sum(relu(grad_c) * alpha_c) * act_c``, with
  ``alpha = g^2 / (2 g^2 + sum(act_c) g^3)``;
- ``hirescam`` (Draelos and Carin 2020): ``grad_c * act_c``, element by element;
- ``layercam`` (Jiang et al. 2021): ``relu(grad_c) * act_c``;
- ``scorecam`` (Wang et al. 2020): ``softmax(score of the image masked by act_c) * act_c``,
  the masked images scored in batches, no gradients.

The mean of ``term_c`` over the map is channel ``c``'s contribution to the picture.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

GRADIENT_CAMS = ("gradcam", "gradcam++", "hirescam", "layercam")
CAM_METHODS = (*GRADIENT_CAMS, "scorecam")

# Grad-CAM++ divides by this sum plus a small constant where the gradient cubes cancel out.
_PLUSPLUS_EPS = 1e-6
# ScoreCAM spreads each upsampled map over [0, 1]; a constant map gets this in its denominator.
_SCORECAM_EPS = 1e-8


def gradient_terms(method: str, acts: Tensor, grads: Tensor) -> Tensor:
    """Per-channel terms ``[C, h, w]`` of a gradient CAM from one item's maps and gradients."""
    if method == "gradcam":
        return grads.mean(dim=(1, 2))[:, None, None] * acts
    if method == "gradcam++":
        squared = grads**2
        cubed = squared * grads
        act_sums = acts.sum(dim=(1, 2), keepdim=True)
        alpha = squared / (2 * squared + act_sums * cubed + _PLUSPLUS_EPS)
        alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
        weights = (grads.clamp(min=0) * alpha).sum(dim=(1, 2))
        return weights[:, None, None] * acts
    if method == "hirescam":
        return grads * acts
    if method == "layercam":
        return grads.clamp(min=0) * acts
    raise ValueError(f"{method!r} is not a gradient CAM; expected one of {GRADIENT_CAMS}")


def score_terms(
    acts: Tensor, image: Tensor, score: Callable[[Tensor], Tensor], batch_size: int
) -> Tensor:
    """ScoreCAM's per-channel terms ``[C, h, w]``: ``image`` ``[1, C_in, H, W]`` masked by each
    channel's map (upsampled, spread over [0, 1]), scored ``batch_size`` masks per forward."""
    masks = F.interpolate(acts[None], size=image.shape[-2:], mode="bilinear", align_corners=True)[0]
    flat = masks.flatten(1)
    low = flat.min(dim=1).values[:, None, None]
    high = flat.max(dim=1).values[:, None, None]
    masks = (masks - low) / (high - low + _SCORECAM_EPS)
    scores = []
    with torch.no_grad():
        for start in range(0, masks.shape[0], batch_size):
            chunk = masks[start : start + batch_size]
            scores.append(score(image * chunk[:, None]).float())
    weights = torch.softmax(torch.cat(scores), dim=0)
    return weights[:, None, None] * acts


def combine(terms: Tensor) -> tuple[Tensor, Tensor]:
    """The CAM ``[h, w]`` (terms summed over channels, negatives clipped) and each channel's
    contribution ``[C]`` (its term's mean over the map)."""
    return terms.sum(dim=0).clamp(min=0), terms.mean(dim=(1, 2))
