"""A running per-channel top-k: the k best (score, image) pairs of every channel, NumPy only.

The order is total and fixed: higher score first, ties broken by the lower image index, NaN scores
last (below -inf). Because of that, the top-k of a union is the top-k of the union of top-ks: a
state built from any split of the images into batches, workers or runs, merged in any order, is
identical to the state of one pass over all of them. That is what lets the local runner, the Ray
actors and a resumed run give the same answer.

Examples
--------
>>> import numpy as np
>>> state = TopK.empty(channels=1, k=2).push(np.array([[0.5], [0.9], [0.9]]), np.array([7, 3, 4]))
>>> state.indices.tolist(), state.scores.tolist()
([[3, 4]], [[0.9, 0.9]])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["EMPTY", "TopK"]

EMPTY = np.iinfo(np.int64).max
"""The image index of an empty slot: it loses every tie, so empty slots always sort last."""


@dataclass(frozen=True)
class TopK:
    """The best ``k`` images of every channel, best first.

    Attributes
    ----------
    scores : float64 ``[C, k]``; ``-inf`` in empty slots.
    indices : int64 ``[C, k]`` image indices; :data:`EMPTY` in empty slots.
    positions : int64 ``[C, k, D]``: where in the channel's map the score was taken (the argmax
        for a max ranking, ``D`` = 2 for ``(y, x)``, 3 for ``(t, y, x)``); ``D = 0`` when unused.
    """

    scores: np.ndarray
    indices: np.ndarray
    positions: np.ndarray

    @classmethod
    def empty(cls, channels: int, k: int, ndim: int = 0) -> TopK:
        """A state with every slot empty, for ``channels`` channels and ``ndim``-D positions."""
        return cls(
            scores=np.full((channels, k), -np.inf),
            indices=np.full((channels, k), EMPTY, dtype=np.int64),
            positions=np.zeros((channels, k, ndim), dtype=np.int64),
        )

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    @property
    def channels(self) -> int:
        return int(self.indices.shape[0])

    def push(
        self, scores: np.ndarray, indices: np.ndarray, positions: np.ndarray | None = None
    ) -> TopK:
        """The state after seeing a batch: ``scores`` ``[N, C]`` of images ``indices`` ``[N]``.

        ``positions`` is ``[N, C, D]`` (omit it when ``D`` is 0). Indices must be new to the state.
        """
        scores = np.asarray(scores, dtype=np.float64)
        count = scores.shape[0]
        if positions is None:
            positions = np.zeros((count, self.channels, 0), dtype=np.int64)
        batch = TopK(
            scores=scores.T,
            indices=np.broadcast_to(np.asarray(indices, dtype=np.int64), (self.channels, count)),
            positions=np.asarray(positions, dtype=np.int64).transpose(1, 0, 2),
        )
        return self.merge(batch)

    def merge(self, *others: TopK) -> TopK:
        """The top-k of this state and ``others`` together (they cover disjoint images)."""
        parts = (self, *others)
        scores = np.concatenate([part.scores for part in parts], axis=1)
        indices = np.concatenate([part.indices for part in parts], axis=1)
        positions = np.concatenate([part.positions for part in parts], axis=1)
        return _best(scores, indices, positions, self.k)

    def only(self, images: Iterable[int] | np.ndarray) -> TopK:
        """This state with every entry whose image is not in ``images`` emptied (sorted again).

        A worker sends ``state.only(batch)`` after each batch: the entries the batch added. Every
        image of the global top-k is in its worker's top-k when its batch is scored, so merging
        these pieces gives the same state as merging the workers' final states.
        """
        keep = np.isin(self.indices, np.asarray(list(images), dtype=np.int64))
        scores = np.where(keep, self.scores, -np.inf)
        indices = np.where(keep, self.indices, EMPTY)
        return _best(scores, indices, self.positions, self.k)

    def filled(self) -> int:
        """How many slots hold an image in the fullest channel (0 for an empty state)."""
        if self.indices.size == 0:
            return 0
        return int((self.indices != EMPTY).sum(axis=1).max())


def _best(scores: np.ndarray, indices: np.ndarray, positions: np.ndarray, k: int) -> TopK:
    """Sort every channel's candidates (score descending, index ascending) and keep ``k``."""
    nan = np.isnan(scores)
    keys = np.where(nan, -np.inf, scores)
    # tiers among equal keys: real scores, then NaN scores, then empty slots
    tier = np.where(indices == EMPTY, 2, nan.astype(np.int64))
    order = np.lexsort((indices, tier, -keys), axis=-1)[:, :k]
    picked = TopK(
        scores=np.take_along_axis(scores, order, axis=1),
        indices=np.take_along_axis(indices, order, axis=1),
        positions=np.take_along_axis(positions, order[..., None], axis=1),
    )
    width = picked.indices.shape[1]
    if width == k:
        return picked
    pad = TopK.empty(picked.channels, k - width, positions.shape[2])  # fewer candidates than k
    return TopK(
        scores=np.concatenate([picked.scores, pad.scores], axis=1),
        indices=np.concatenate([picked.indices, pad.indices], axis=1),
        positions=np.concatenate([picked.positions, pad.positions], axis=1),
    )
