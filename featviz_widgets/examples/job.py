"""What both runners share: the job description, the batch plan and the progress display.

A :class:`Job` is everything a runner needs (model, layer keys, preprocessing, source, batch
size, progress, cancel) plus the :class:`~featviz_widgets.examples.state.RunState` it starts from
(empty, or a saved partial run). :func:`plan_batches` splits the source positions not yet done into
batches in position order: the local runner and the Ray actors run exactly these batches, so a
model whose numbers depend on the batch (CPU convolutions do, in the last bits) still gives both
engines the same scores.

Examples
--------
>>> plan_batches(range(7), [(2, 4)], 2)
[[0, 1], [4, 5], [6]]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from torch import nn

from ..inputs import Preprocessing
from .sources import Source, Stream
from .state import RunState

__all__ = ["Job", "Progress", "plan_batches"]

ProgressCallback = Callable[[int, "int | None"], None]


class CancelEvent(Protocol):
    def is_set(self) -> bool: ...


@dataclass
class Job:
    """One top-k run: what to run on what, and the state to start from."""

    model: nn.Module
    keys: list[str]
    recipe: Preprocessing
    source: Source | Stream
    batch_size: int
    state: RunState
    progress: bool | ProgressCallback = True
    cancel: CancelEvent | None = None

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def batches(self) -> list[list[int]]:
        """The batches of source positions still to do (a :class:`Source` only)."""
        if not isinstance(self.source, Source):
            raise TypeError("a one-pass iterable has no batch plan: it is read as it comes")
        return plan_batches(range(len(self.source)), self.state.done, self.batch_size)


def plan_batches(
    positions: Sequence[int], done: Sequence[tuple[int, int]], batch_size: int
) -> list[list[int]]:
    """``positions`` not inside any ``done`` range, in order, cut into batches of ``batch_size``."""
    handled = np.zeros(max(positions, default=-1) + 1, dtype=bool)
    for start, stop in done:
        handled[start:stop] = True
    remaining = [p for p in positions if not handled[p]]
    return [remaining[i : i + batch_size] for i in range(0, len(remaining), batch_size)]


class Progress:
    """A notebook-aware tqdm bar in images (with images/s), a callback, or nothing.

    ``progress=True`` shows ``tqdm.auto`` (a widget bar in Jupyter, text elsewhere); a callable
    is called as ``progress(images_done, images_total)`` after every batch (``total`` is None for
    an iterable of unknown length); False shows nothing.
    """

    def __init__(self, progress: bool | ProgressCallback, total: int | None, done: int) -> None:
        self.callback = progress if callable(progress) else None
        self.total, self.done = total, done
        self.started = time.perf_counter()
        self.bar: Any = None
        if progress is True:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, unit="img", desc="top_examples")

    def update(self, images: int, skipped: int = 0) -> None:
        self.done += images
        if self.bar is not None:
            self.bar.update(images)
            if skipped:
                self.bar.set_postfix(skipped=skipped, refresh=False)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
