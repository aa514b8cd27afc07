"""The local runner: stream the images through the model in this process, one batch at a time.

Memory stays at one batch (its images and the requested layers' outputs) plus the rankings,
``O(layers x channels x k)``, however many images there are. Each forward is the engine's
stop-early ``capture``, which holds the model's lock only for that batch, so a widget click waits
one batch at most. Cancel (the job's event) and Ctrl-C stop between or during batches; the run
then ends *partial* with every finished batch kept.

Examples
--------
>>> import torch
>>> from torch import nn
>>> from featviz_widgets.examples import top_examples
>>> net = nn.Sequential(nn.Conv2d(3, 4, 3))
>>> top_examples(net, torch.rand(5, 3, 8, 8), "0", k=2, size=8, progress=False).scored
5
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from .job import Job, Progress
from .scoring import BatchScorer
from .sources import Source, load_batch

__all__ = ["run_local"]


def run_local(job: Job) -> bool:
    """Run ``job`` here, folding every batch into ``job.state``; True when it stopped early."""
    scorer = BatchScorer(job.model, job.keys)
    source = job.source
    total = len(source) if isinstance(source, Source) else None
    already = sum(stop - start for start, stop in job.state.done)
    progress = Progress(job.progress, total, already)
    try:
        for positions, read in _batches(job):
            if job.cancelled():
                return True
            batch, kept, skipped = load_batch(job.recipe, positions, read, source.ids)
            scores = scorer.score(batch) if batch is not None else {}
            job.state.add(positions, kept, scores, skipped)
            progress.update(len(positions), len(job.state.skipped))
    except KeyboardInterrupt:
        return True
    finally:
        progress.close()
    return False


def _batches(job: Job) -> Iterator[tuple[list[int], Any]]:
    """``(positions, read)`` per batch: the planned batches, or chunks drawn from a stream."""
    source = job.source
    if isinstance(source, Source):
        for positions in job.batches():
            yield positions, source.item
        return
    stream = iter(source)
    while chunk := list(islice(stream, job.batch_size)):
        items = dict(chunk)
        yield list(items), items.__getitem__
