"""A Maximize request (:class:`Job`, the cache key), what optvis is given for it, and its run."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from featviz_widgets.optvis import MaximizeSettings, maximize, objectives
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets.strings import text


@dataclass(frozen=True)
class Job:
    """One optimization request: what to maximize and how (hashable: the cache key).

    ``asked`` is the explorer's layer when the receptive-field rule moved the target elsewhere
    (``reason`` says why); ``strongest`` marks a channel picked as the strongest on the image.
    """

    layer: str
    mode: str
    channels: tuple[int, ...]
    steps: int
    size: int
    preset: str
    seed: int
    asked: str = ""
    reason: str = ""
    strongest: bool = False

    def target(self, lang: str = "en") -> str:
        """What is maximized, e.g. ``features.3 channel 7``."""
        if self.mode == "class":
            return text(lang, "job_class", index=self.channels[0])
        if len(self.channels) == 1:
            return text(lang, "job_channel", layer=self.layer, channel=self.channels[0])
        first, last = self.channels[0], self.channels[-1]
        return text(lang, "job_channels", layer=self.layer, first=first, last=last)

    def describe(self, lang: str = "en") -> str:
        """The target and the settings, e.g. ``conv1 channel 3 · 64 steps · 128px · lucid · seed 0``."""
        what = self.target(lang) + (text(lang, "job_strongest") if self.strongest else "")
        return text(lang, "job_describe", what=what, steps=self.steps, size=self.size,
                    preset=self.preset, seed=self.seed)  # fmt: skip


def target_of(job: Job) -> Any:
    """What ``optvis.maximize`` is given for ``job``."""
    if job.mode == "class":
        return objectives.class_logit(job.channels[0])
    if len(job.channels) == 1:
        return (job.layer, job.channels[0])
    return (job.layer, list(job.channels))


def result_bytes(result: Any) -> int | None:
    """Budget bytes of a finished result; None (not cached) for a cancelled one."""
    if result is None or result.cancelled:
        return None
    return sum(int(np.asarray(image).nbytes) for image in result.images) + 1024


def run_job(data: ExplorerData, job: Job, cancel: threading.Event, progress: Any) -> Any:
    """Maximize ``job`` on the explorer's model (the worker thread's work): a MaximizeResult.

    ``progress(step, value, preview)`` follows every step, with a preview every 1/16 of the run;
    ``cancel`` is checked every step.
    """
    settings = MaximizeSettings(
        preset=job.preset, steps=job.steps, size=job.size, seed=job.seed,
        preview_every=max(1, job.steps // 16),
    )  # fmt: skip
    return maximize(
        data.model, target_of(job), settings=settings, on_step=progress, cancel=cancel,
        weights=data.weights, preprocess=data.preprocess,
    )  # fmt: skip
