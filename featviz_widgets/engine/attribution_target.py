"""What attribution explains: a class score, a segmentation class's pixels, a detection's score,
or one channel's mean."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.ops import box_iou

from ._facts import class_scores
from ._outputs import detections, output_kind
from .attribution_layers import LayerMaps, ModelLayers, layer_maps, recording
from .owner import ModelOwner


@dataclass(frozen=True)
class Goal:
    """The score whose gradients are taken, per batch item.

    ``index``: a class of the model's output (None: the top class, fixed by :meth:`resolve`);
    for a segmentation model, the class's scores summed over the pixels predicted as it.
    ``channel``: a layer's maps and a channel, scored by the channel map's mean instead.
    ``box``: a detection model's ``box``-th best detection, scored by its class score.
    ``kind`` and ``reference`` are set by :meth:`resolve`: the output's kind, and what later
    forwards are scored against (the pixels' mask, or the detected box's corners).
    """

    index: int | None = None
    channel: tuple[LayerMaps, int] | None = None
    box: int | None = None
    kind: str | None = None
    reference: Tensor | None = None

    @property
    def layers(self) -> list[str]:
        """Layers the score reads besides the model's output."""
        return [] if self.channel is None else [self.channel[0].name]

    @property
    def is_class(self) -> bool:
        """Whether the score is a class logit (a softmax of the output makes sense of it)."""
        return self.kind == "classes"

    def resolve(self, output: object) -> Goal:
        """This goal fixed on the output of the first forward: the top class filled in, the
        pixels of a segmentation class, the box of a detection."""
        if self.channel is not None:
            return self
        kind = output_kind(output)
        if self.box is not None or kind == "detections":
            return _resolve_box(self, output, kind)
        if kind == "segmentation":
            return _resolve_pixels(self, _pixel_scores(output))
        logits = _logits(output)
        index = int(logits[0].argmax()) if self.index is None else self.index
        _check_index(index, logits.shape[1])
        return Goal(index=index, kind="classes")

    def scores(self, output: object, acts: dict[str, Tensor]) -> Tensor:
        """The score of each batch item ``[N]`` (a resolved goal)."""
        if self.channel is not None:
            maps, channel = self.channel
            return maps.gather(acts[maps.name])[:, channel].flatten(1).mean(1)
        if self.kind is None or self.index is None:
            raise RuntimeError("the goal is not resolved yet")
        if self.kind == "segmentation":
            pixels = _pixel_scores(output)[:, self.index]
            return (pixels * self.reference.to(pixels)).flatten(1).sum(1)
        if self.kind == "detections":
            return torch.stack([self._box_score(item) for item in output])
        return _logits(output)[:, self.index]

    def _box_score(self, item: Any) -> Tensor:
        """The best score among one image's detections of the box's class that overlap it
        (IoU >= 0.5): the box itself on the image it was found in (non-maximum suppression
        leaves no other such box there), its counterpart on a perturbed copy, else 0."""
        scores = item["scores"]
        overlap = box_iou(item["boxes"].detach().float(), self.reference.to(scores.device)[None])
        same = (item["labels"] == self.index) & (overlap[:, 0] >= 0.5)
        return scores[same].max() if bool(same.any()) else scores.sum() * 0

    def describe(self) -> int | tuple[str, int]:
        if self.channel is not None:
            return (self.channel[0].name, self.channel[1])
        if self.index is None:
            raise RuntimeError("the goal's class is not resolved yet")
        return self.index


def _resolve_box(goal: Goal, output: object, kind: str | None) -> Goal:
    if kind != "detections":
        raise ValueError(
            f"box= explains a detection model's boxes; this model's output is {kind or 'neither'}"
            " class scores nor detections: leave box out"
        )
    if goal.index is not None:
        raise ValueError(
            "a detection model explains one detection: pass box=i (the i-th best detection), "
            "not a class"
        )
    found = detections(output)
    count = 0 if found is None else len(found.scores)
    box = 0 if goal.box is None else goal.box
    if count == 0:
        raise ValueError("the model detected nothing in this image: there is no box to explain")
    if box >= count:
        raise ValueError(
            f"box {box} is out of range: the model detected {count} boxes (0..{count - 1})"
        )
    corners = torch.as_tensor(found.boxes[box], dtype=torch.float32)
    return Goal(index=int(found.labels[box]), box=box, kind="detections", reference=corners)


def _resolve_pixels(goal: Goal, pixels: Tensor) -> Goal:
    predicted = pixels[0].detach().argmax(dim=0)
    counts = torch.bincount(predicted.flatten().cpu(), minlength=pixels.shape[1])
    index = goal.index
    if index is None:  # the class on most pixels; 0 (background) only when alone
        index = int(counts[1:].argmax()) + 1 if bool(counts[1:].any()) else 0
    _check_index(index, int(pixels.shape[1]))
    if counts[index] == 0:
        present = counts.nonzero().flatten().tolist()
        raise ValueError(
            f"class {index} is predicted on no pixel of this image: pick one of the classes "
            f"it shows, {present}"
        )
    return Goal(index=index, kind="segmentation", reference=(predicted == index).float())


def _pixel_scores(output: Any) -> Tensor:
    """A segmentation output's per-pixel class scores ``[N, K, h, w]`` (graph kept)."""
    return output["out"] if "out" in output else output["logits"]


def parse_goal(owner: ModelOwner, layers: ModelLayers, target: object, box: object = None) -> Goal:
    """``None``, a class index or ``(layer, channel)``, or ``box=i``, as a :class:`Goal`;
    TypeError/ValueError with the fix for anything else (class names are turned into indices by
    the caller)."""
    if box is not None:
        if isinstance(box, bool) or not isinstance(box, int) or box < 0:
            raise TypeError(f"box must be an int >= 0 (the i-th best detection), got {box!r}")
        if target is not None:
            raise ValueError("pass box=i or target, not both: a box names its own class")
        return Goal(box=box)
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


def _check_index(index: int, classes: int) -> None:
    if index >= classes:
        raise ValueError(
            f"target class {index} is out of range: the model scores {classes} classes "
            f"(0..{classes - 1})"
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
