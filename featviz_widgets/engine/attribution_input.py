"""Input-space attribution through Captum: which input pixels move the score.

Captum's algorithm objects are called as they are (never re-implemented); each gets a forward
function that runs the model through its adapter and returns one score per batch item, so a
class of a ``ModelOutput``'s logits and a channel's mean are explained the same way. Everything
here runs inside the model owner's ``using()`` (the caller holds it): the hooks Captum registers
for guided backprop are removed by Captum, and the owner restores the rest.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

INPUT_METHODS = ("saliency", "smoothgrad", "integrated_gradients", "occlusion", "guided_backprop")

# Each method's options and their defaults (documented on featviz_widgets.attribution.attribute).
INPUT_OPTIONS: dict[str, dict[str, Any]] = {
    "saliency": {},
    # SmoothGrad's paper adds noise of 10-20 % of the input's range; 16 samples, seeded.
    "smoothgrad": {"samples": 16, "noise": 0.15, "seed": 0, "batch_size": 16},
    "integrated_gradients": {"steps": 32, "baseline": 0.0, "batch_size": 16},
    # window None: an eighth of the image's short side; stride None: half the window.
    "occlusion": {"window": None, "stride": None, "baseline": 0.0, "batch_size": 16},
    "guided_backprop": {},
}


class _Scores(nn.Module):
    """A module whose output is the scores: what Captum's guided backprop takes. The user's model
    is held as a child so that Captum finds its ReLUs; holding it changes nothing in it."""

    def __init__(self, model: nn.Module, score: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.model = model
        self._score = score

    def forward(self, x: Tensor) -> Tensor:
        return self._score(x)


def input_attributions(
    method: str,
    model: nn.Module,
    score: Callable[[Tensor], Tensor],
    x: Tensor,
    options: dict[str, Any],
) -> Tensor:
    """Captum's ``method`` on ``x`` ``[1, C, H, W]`` (a private copy that requires grad) for
    ``score`` (a batch -> ``[N]``): attributions ``[1, C, H, W]``."""
    import captum.attr as attr  # imported on first use: the engine loads without it

    if method == "saliency":
        return attr.Saliency(score).attribute(x)
    if method == "smoothgrad":
        noise = float(options["noise"]) * float(x.detach().max() - x.detach().min())
        tunnel = attr.NoiseTunnel(attr.Saliency(score))
        with torch.random.fork_rng(devices=[]):  # seeded noise, the caller's RNG untouched
            torch.manual_seed(int(options["seed"]))
            return tunnel.attribute(
                x,
                nt_type="smoothgrad",
                nt_samples=int(options["samples"]),
                nt_samples_batch_size=int(options["batch_size"]),
                stdevs=noise,
            )
    if method == "integrated_gradients":
        return attr.IntegratedGradients(score).attribute(
            x,
            baselines=options["baseline"],
            n_steps=int(options["steps"]),
            internal_batch_size=int(options["batch_size"]),
        )
    if method == "occlusion":
        window, stride = occlusion_window(x, options["window"], options["stride"])
        channels = int(x.shape[1])
        return attr.Occlusion(score).attribute(
            x,
            sliding_window_shapes=(channels, window, window),
            strides=(channels, stride, stride),
            baselines=options["baseline"],
            perturbations_per_eval=int(options["batch_size"]),
        )
    if method == "guided_backprop":
        with guided_relus(model), warnings.catch_warnings():
            # Captum announces the ReLU hooks it sets (and removes): nothing for the user to do.
            warnings.filterwarnings("ignore", "Setting backward hooks", UserWarning)
            return attr.GuidedBackprop(_Scores(model, score)).attribute(x)
    raise ValueError(f"unknown input-space method {method!r}; expected one of {INPUT_METHODS}")


def occlusion_window(x: Tensor, window: int | None, stride: int | None) -> tuple[int, int]:
    """The occluding square's side and step (defaults: an eighth of the short side, half that)."""
    side = min(int(x.shape[-2]), int(x.shape[-1]))
    window = max(1, side // 8) if window is None else int(window)
    stride = max(1, window // 2) if stride is None else int(stride)
    if not 1 <= window <= side or stride < 1:
        raise ValueError(
            f"occlusion needs 1 <= window <= {side} (the image's short side) and stride >= 1, "
            f"got window={window}, stride={stride}"
        )
    return window, stride


class _GuidedReLU6(nn.ReLU6, nn.ReLU):
    """A ReLU6 that Captum's guided backprop recognizes as a ReLU: its forward is ReLU6's own
    (``Hardtanh(0, 6)``), so the hook Captum sets passes only positive gradients through it."""


@contextmanager
def guided_relus(model: nn.Module) -> Iterator[None]:
    """ReLUs and ReLU6s ready for guided backprop for the duration (restored after, also on error).

    Captum hooks the backward of every ``nn.ReLU``; torch refuses such a hook on a module that
    overwrites its input in place (``ReLU(inplace=True)``, as in ResNets): out of place, the
    values and gradients are the same. A ``ReLU6`` (MobileNets) is no ``nn.ReLU`` to Captum, and
    would pass negative gradients unguided: it is seen as one (same object, hooks and attributes;
    only its class changes) until the block ends.
    """
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU | nn.ReLU6)]
    in_place = [m for m in relus if m.inplace]
    relu6s = [m for m in relus if type(m) is nn.ReLU6]
    try:
        for module in in_place:
            module.inplace = False
        for module in relu6s:
            module.__class__ = _GuidedReLU6
        yield
    finally:
        for module in relu6s:
            module.__class__ = nn.ReLU6
        for module in in_place:
            module.inplace = True
