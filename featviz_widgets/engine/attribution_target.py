"""What attribution explains: a class score of the model's output, or one channel's mean."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ._facts import class_scores
from .attribution_layers import LayerMaps, ModelLayers, layer_maps, recording
from .owner import ModelOwner


@dataclass(frozen=True)
class Goal:
    """The score whose gradients are taken, per batch item.

    ``index``: a class of the model's output (None: the top class, fixed by :meth:`resolve`);
    ``channel``: a layer's maps and a channel, scored by the channel map's mean instead.
    """

    index: int | None = None
    channel: tuple[LayerMaps, int] | None = None

    @property
    def layers(self) -> list[str]:
        """Layers the score reads besides the model's output."""
        return [] if self.channel is None else [self.channel[0].name]

    def resolve(self, output: object) -> Goal:
        """This goal with the top class filled in (from the output of the first forward)."""
        if self.channel is not None or self.index is not None:
            if self.index is not None:
                _check_index(self.index, _logits(output))
            return self
        return Goal(index=int(_logits(output)[0].argmax()))

    def scores(self, output: object, acts: dict[str, Tensor]) -> Tensor:
        """The score of each batch item ``[N]`` (a resolved goal)."""
        if self.channel is not None:
            maps, channel = self.channel
            return maps.gather(acts[maps.name])[:, channel].flatten(1).mean(1)
        if self.index is None:
            raise RuntimeError("the goal's class is not resolved yet")
        return _logits(output)[:, self.index]

    def describe(self) -> int | tuple[str, int]:
        if self.channel is not None:
            return (self.channel[0].name, self.channel[1])
        if self.index is None:
            raise RuntimeError("the goal's class is not resolved yet")
        return self.index


def parse_goal(owner: ModelOwner, layers: ModelLayers, target: object) -> Goal:
    """``None``, a class index or ``(layer, channel)`` as a :class:`Goal`; TypeError/ValueError
    with the fix for anything else (class names are turned into indices by the caller)."""
    if target is None:
        return Goal()
    if isinstance(target, bool) or not isinstance(target, int | tuple | list):
        raise TypeError(
            f"target must be None (the top class), a class index, a class name or (layer, "
            f"channel), got {type(target).__name__}"
        )
    if isinstance(target, int):
        if target < 0:
            raise ValueError(f"target class {target} is negative: class indices start at 0")
        return Goal(index=int(target))
    if len(target) != 2 or not isinstance(target[0], str) or not _is_int(target[1]):
        raise TypeError(f"a channel target is (layer name, channel index), got {target!r}")
    maps = layer_maps(owner, layers, target[0])
    count = int(maps.index.shape[0])
    if not 0 <= int(target[1]) < count:
        raise ValueError(
            f"channel {target[1]} is out of range: layer {target[0]!r} has {count} channels "
            f"(0..{count - 1})"
        )
    return Goal(channel=(maps, int(target[1])))


def scores_of(model: nn.Module, x: Tensor, goal: Goal) -> tuple[Tensor, object]:
    """One forward of ``x`` (grad as the caller has it): each item's score and the raw output."""
    acts, output = recording(model, goal.layers).with_output(x)
    return goal.scores(output, acts), output


def top_goal(model: nn.Module, x: Tensor, goal: Goal) -> tuple[Goal, float]:
    """The goal with its class resolved by one no-grad forward, and the score of ``x``."""
    with torch.no_grad():
        acts, output = recording(model, goal.layers).with_output(x)
        goal = goal.resolve(output)
        return goal, float(goal.scores(output, acts)[0])


def _logits(output: object) -> Tensor:
    scores = class_scores(output)
    if scores is None or scores.dim() != 2:
        what = (
            type(output).__name__ if scores is None else f"a tensor of shape {tuple(scores.shape)}"
        )
        raise ValueError(
            f"the model's output is {what}, not class scores [N, classes]: pass "
            "target=(layer, channel) to explain a channel instead"
        )
    return scores


def _check_index(index: int, logits: Tensor) -> None:
    classes = int(logits.shape[1])
    if index >= classes:
        raise ValueError(
            f"target class {index} is out of range: the model scores {classes} classes "
            f"(0..{classes - 1})"
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
