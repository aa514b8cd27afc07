"""The Ray runner: the same batches on a pool of Ray Data actors, merged on the driver.

Ray Data streams the planned batches (one row per batch, :func:`~featviz_widgets.examples.job.
plan_batches`) through ``map_batches`` with an actor pool. Each actor holds its own copy of the
model (and of the image source: paths, a dataset, or the images themselves), reads and prepares
its batches with the explorer's preprocessing, scores them with the same
:class:`~featviz_widgets.examples.scoring.BatchScorer` as the local runner, and keeps its own
running top-k. After each batch it sends back what that batch added to its top-k (every image of
the final top-k enters its actor's top-k when scored, so these pieces suffice); the driver merges
them into one state, ``O(channels x k)`` per reply. The batches are exactly the local runner's and
the merge order does not matter, so the result is identical to ``engine="local"``.

Uses the running Ray (``ray.init(address=...)`` for a cluster) when there is one, else starts a
local one and shuts it down afterwards. On a cluster every node needs featviz_widgets, torch and
the model's own classes importable (installed, or a Ray ``runtime_env``), and file paths must be
readable from every node (a shared filesystem). Ray is an optional extra: ``pip install
"featviz_widgets[ray]"``.

Examples
--------
>>> found = top_examples(model, "photos/", "layer4", engine=RayEngine(actors=4, num_gpus=0.5))
... # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .job import Job, Progress
from .scoring import BatchScorer
from .sources import load_batch
from .state import RunState

__all__ = ["RayEngine", "run_ray"]

INSTALL_HINT = 'engine="ray" needs Ray Data: pip install "featviz_widgets[ray]"'


@dataclass(frozen=True)
class RayEngine:
    """How to run on Ray: pass ``engine=RayEngine(...)`` (``engine="ray"`` means the defaults).

    Attributes
    ----------
    actors : the actor pool size (one model copy per actor).
    num_cpus, num_gpus : Ray resources per actor; an actor runs torch with ``num_cpus`` threads
        and moves its model to CUDA when ``num_gpus`` > 0.
    init : keyword arguments for ``ray.init`` when no Ray is running yet (default: a local Ray
        without dashboard, with enough CPUs for the pool).
    """

    actors: int = 2
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    init: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.actors, bool) or not isinstance(self.actors, int) or self.actors < 1:
            raise ValueError(f"actors must be a positive int, got {self.actors!r}")
        if not self.num_cpus > 0 or not self.num_gpus >= 0:
            raise ValueError("num_cpus must be > 0 and num_gpus >= 0 (resources per actor)")


def import_ray() -> Any:
    """``ray`` with ``ray.data``, or ImportError naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray core alone has no Ray Data)
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} ({error})") from error
    return ray


def run_ray(job: Job, settings: RayEngine) -> bool:
    """Run ``job`` on a Ray actor pool, merging into ``job.state``; True when it stopped early."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        cpus = max(os.cpu_count() or 1, math.ceil(settings.actors * settings.num_cpus))
        ray.init(**{"include_dashboard": False, "num_cpus": cpus, **settings.init})
    try:
        return _run(ray, job, settings)
    finally:
        if started:
            ray.shutdown()


def _run(ray: Any, job: Job, settings: RayEngine) -> bool:
    batches = job.batches()
    if not batches:
        return False
    context = ray.data.DataContext.get_current()
    bars = context.enable_progress_bars
    context.enable_progress_bars = False  # ours counts images; Ray's would count batches
    refs = {
        "model": ray.put(job.model),
        "source": ray.put(job.source),
        "batches": ray.put(batches),
    }
    rows = ray.data.from_items(
        [{"batch": i} for i in range(len(batches))], override_num_blocks=len(batches)
    )
    replies = rows.map_batches(
        _Worker,
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=settings.actors),
        num_cpus=settings.num_cpus,
        num_gpus=settings.num_gpus,
        fn_constructor_kwargs={
            "refs": refs,
            "keys": job.keys,
            "recipe": job.recipe,
            "k": job.state.k,
            "threads": max(1, int(settings.num_cpus)),
            "cuda": settings.num_gpus > 0,
        },
    )
    already = sum(stop - start for start, stop in job.state.done)
    progress = Progress(job.progress, len(job.source), already)
    try:
        for reply in replies.iter_rows():
            piece = RunState.from_bytes(reply["state"])
            job.state.merge(piece)
            progress.update(len(batches[int(reply["batch"])]), len(job.state.skipped))
            if job.cancelled():
                return True
    except KeyboardInterrupt:
        return True
    finally:
        progress.close()
        context.enable_progress_bars = bars
    return False


class _Worker:
    """One actor of the pool: a model copy, the source, its own running top-k."""

    def __init__(
        self,
        refs: dict[str, Any],
        keys: list[str],
        recipe: Any,
        k: int,
        threads: int,
        cuda: bool,
    ) -> None:
        import ray
        import torch

        torch.set_num_threads(threads)
        self.model = ray.get(refs["model"])
        if cuda:
            self.model.to("cuda")  # this actor's own copy; the user's model stays where it was
        self.source = ray.get(refs["source"])
        self.batches = ray.get(refs["batches"])
        self.recipe = recipe
        self.scorer = BatchScorer(self.model, keys)
        self.state = RunState.empty(keys, k)

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        replies = []
        for batch in rows["batch"]:
            positions = self.batches[int(batch)]
            images, kept, skipped = load_batch(
                self.recipe, positions, self.source.item, self.source.ids
            )
            scores = self.scorer.score(images) if images is not None else {}
            replies.append(self.state.add(positions, kept, scores, skipped).to_bytes())
        return {"batch": rows["batch"], "state": np.array(replies, dtype=object)}
