"""The time axis of a video layer: which maps a tab draws, which clip frame they belong to, and
why a clip did not run (``clip_refused``: the frames the model takes at that size).

A video layer's view keeps ``frames`` ``[C, T, H, W]`` (``LayerView``). The explorer's ``frame``
counts that layer's own time steps; strided 3-D convolutions and pools make ``T`` shorter than the
clip's, so step ``t`` of ``T`` covers the clip frames ``[t * F / T, (t + 1) * F / T)`` (``F`` the
clip's frame count), and an overlay lays it over the middle one of them (the later of two). The
mapping is proportional, as the strides are: no receptive-field arithmetic, which a temporal pad
would only shift by a frame.

Examples
--------
>>> input_span(1, 4, 8), input_frame(1, 4, 8)
((2, 3), 3)
>>> input_frame(0, 1, 16)  # a layer that pooled time away: the middle of the clip
8
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from featviz_widgets.engine import ModelOwner
from featviz_widgets.messages import MessageValueError
from featviz_widgets.widgets._views import LayerView

TIME_VIEWS = ("frame", "mean", "sum")


def steps_of(view: LayerView) -> int:
    """Time steps of a video layer's view; 0 for every other view."""
    return 0 if view.frames is None else int(view.frames.shape[1])


def clamp_step(step: int, steps: int) -> int:
    """``step`` inside ``[0, steps)`` (a frame chosen on a longer layer stays on the last step)."""
    return min(max(int(step), 0), max(steps - 1, 0))


def input_span(step: int, steps: int, clip_frames: int) -> tuple[int, int]:
    """The clip frames (first, last; 0-based, inclusive) that time step ``step`` of ``steps``
    covers, in proportion."""
    step = clamp_step(step, steps)
    first = step * clip_frames // steps
    last = max(first, (step + 1) * clip_frames // steps - 1)
    return first, min(last, clip_frames - 1)


def input_frame(step: int, steps: int, clip_frames: int) -> int:
    """The clip frame an overlay of time step ``step`` of ``steps`` is drawn on: the middle of
    its span (``floor((step + 0.5) * clip_frames / steps)``)."""
    step = clamp_step(step, steps)
    return min(clip_frames - 1, (2 * step + 1) * clip_frames // (2 * steps))


def time_maps(view: LayerView, frame: int, time_view: str) -> np.ndarray | None:
    """The ``[C, H, W]`` maps a tab draws: one time step (``"frame"``), the mean (``"mean"``,
    the view's ``maps``) or the sum over time; a view without frames gives its ``maps``."""
    if time_view not in TIME_VIEWS:
        raise ValueError(f"time_view must be one of {TIME_VIEWS}, got {time_view!r}")
    if view.frames is None or time_view == "mean":
        return view.maps
    if time_view == "sum":
        return view.frames.sum(axis=1)
    return view.frames[:, clamp_step(frame, steps_of(view))]


def selected_time(sel: object) -> tuple[int, str]:
    """(frame, time_view) of a selection; (0, "frame") where the selection has no such fields."""
    return int(getattr(sel, "frame", 0) or 0), str(getattr(sel, "time_view", "frame") or "frame")


def time_view_of(view: LayerView, sel: object) -> LayerView:
    """``view`` with the selection's time maps as its ``maps`` (a video layer), else ``view``.

    The channel ranking stays the layer's (from the mean over time), so the order of the grid
    does not jump while the user steps through frames.
    """
    if view.frames is None:
        return view
    return replace(view, maps=time_maps(view, *selected_time(sel)), note_key="")


def time_caption(ctx: Any, view: LayerView, sel: object) -> str:
    """What part of time a video layer's picture shows, in the explorer's language ("" for other
    layers): "time step 2 of 4 (clip frames 3-4 of 8)", "mean over 4 time steps"."""
    steps = steps_of(view)
    if not steps:
        return ""
    frame, time_view = selected_time(sel)
    if time_view != "frame":
        return ctx.text(f"time_{time_view}_of", steps=steps)
    clip_frames = ctx.data.frame_count or steps
    first, last = input_span(frame, steps, clip_frames)
    step = clamp_step(frame, steps)
    return ctx.text(
        "time_step", step=step + 1, steps=steps, first=first + 1, last=last + 1, frames=clip_frames
    )


def clip_refused(owner: ModelOwner, batch: torch.Tensor, error: Exception) -> Exception:
    """Why a clip did not run, with the number of frames the model takes at its size."""
    frames, (height, width) = int(batch.shape[2]), (int(s) for s in batch.shape[-2:])
    name = type(owner.model).__name__
    need = owner.clip_frames((height, width))
    if need is None:
        return MessageValueError(
            "clip_size_refused", model=name, height=height, width=width, error=str(error)
        )
    if need == frames:  # the model runs at this clip size: the error is something else
        return error
    return MessageValueError(
        "clip_frames_refused", model=name, frames=frames, height=height, width=width, need=need
    )
