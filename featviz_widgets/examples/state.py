"""The mergeable state of a run: two rankings per layer, counts, skipped images, what is done.

A :class:`RunState` is what a runner accumulates and what a worker sends back: per layer a
:class:`~featviz_widgets.examples.topk.TopK` by mean and one by max (with positions), the number
of images scored, the images skipped (with why) and the source positions already handled.
States over disjoint images merge exactly (:meth:`RunState.merge`), so a Ray actor's pieces, a
resumed run's remainder and a single pass all end in the same state. :meth:`to_arrays` /
:meth:`from_arrays` turn a state into NumPy arrays plus JSON-able metadata (no pickle).

Examples
--------
>>> state = RunState.empty(["conv"], k=3)
>>> state.scored, state.done
(0, [])
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .scoring import LayerScores
from .topk import TopK

__all__ = ["RunState", "add_ranges"]

_RANKINGS = ("mean", "max")


@dataclass
class RunState:
    """Per-layer rankings and the bookkeeping of one run (or one piece of one).

    Attributes
    ----------
    layers : the capture keys, in the order asked for.
    k : how many images each channel keeps.
    rankings : ``{layer: {"mean": TopK, "max": TopK}}``; a layer appears once it was scored.
    map_shapes, layouts : per layer, the shape of one channel's map and how it was read.
    scored : images scored.
    skipped : ``(position, image id, reason)`` per image that failed to load, by position.
    done : sorted, disjoint ``[start, stop)`` ranges of source positions handled (scored or
        skipped): a resumed run does the rest.
    """

    layers: list[str]
    k: int
    rankings: dict[str, dict[str, TopK]] = field(default_factory=dict)
    map_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    layouts: dict[str, str] = field(default_factory=dict)
    scored: int = 0
    skipped: list[tuple[int, Any, str]] = field(default_factory=list)
    done: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def empty(cls, layers: Sequence[str], k: int) -> RunState:
        return cls(layers=list(layers), k=k)

    def add(
        self,
        positions: Sequence[int],
        kept: Sequence[int],
        scores: dict[str, LayerScores],
        skipped: Sequence[tuple[int, Any, str]],
    ) -> RunState:
        """Fold in one batch: ``positions`` handled, ``kept`` of them scored as ``scores``.

        Returns the piece this batch added (entries it put in the top-k, its counts), which is
        what a worker sends to the driver.
        """
        piece = RunState.empty(self.layers, self.k)
        piece.scored, piece.skipped = len(kept), list(skipped)
        piece.done = add_ranges([], positions)
        rankings = dict(self.rankings)
        for key, layer in scores.items():
            ranks = rankings.get(key) or _empty_ranks(layer, self.k)
            ranks = {
                "mean": ranks["mean"].push(layer.means, kept),
                "max": ranks["max"].push(layer.maxes, kept, layer.positions),
            }
            rankings[key] = ranks
            piece.rankings[key] = {name: top.only(kept) for name, top in ranks.items()}
            piece.map_shapes[key], piece.layouts[key] = layer.map_shape, layer.layout
        # Committed together (a Ctrl-C between statements could otherwise count a batch twice)
        self.rankings, self.scored, self.skipped, self.done = (
            rankings,
            self.scored + piece.scored,
            sorted([*self.skipped, *skipped], key=lambda s: s[0]),
            add_ranges(self.done, positions),
        )
        self.map_shapes.update(piece.map_shapes)
        self.layouts.update(piece.layouts)
        return piece

    def merge(self, other: RunState) -> None:
        """Fold in a state over other images (a worker's piece, a saved partial run)."""
        for key, ranks in other.rankings.items():
            if key in self.rankings:
                mine = self.rankings[key]
                self.rankings[key] = {name: mine[name].merge(ranks[name]) for name in _RANKINGS}
            else:
                self.rankings[key] = dict(ranks)
                self.map_shapes[key], self.layouts[key] = other.map_shapes[key], other.layouts[key]
        self.scored += other.scored
        self.skipped = sorted([*self.skipped, *other.skipped], key=lambda s: s[0])
        self.done = _merged([*self.done, *other.done])

    # -- plain arrays and JSON (saving, and a Ray worker's reply) -------------------------------
    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``(arrays, meta)``: NumPy arrays by name and JSON-able metadata."""
        arrays: dict[str, np.ndarray] = {}
        for i, key in enumerate(self.layers):
            for name, top in self.rankings.get(key, {}).items():
                arrays[f"{i}.{name}.scores"] = top.scores
                arrays[f"{i}.{name}.indices"] = top.indices
                arrays[f"{i}.{name}.positions"] = top.positions
        meta = {
            "layers": self.layers,
            "k": self.k,
            "scored_layers": [key for key in self.layers if key in self.rankings],
            "map_shapes": {key: list(shape) for key, shape in self.map_shapes.items()},
            "layouts": self.layouts,
            "scored": self.scored,
            "skipped": [list(entry) for entry in self.skipped],
            "done": [list(r) for r in self.done],
        }
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: Any, meta: dict[str, Any]) -> RunState:
        """The state :meth:`to_arrays` described (``arrays`` may be an open ``np.load`` file)."""
        state = cls.empty(meta["layers"], int(meta["k"]))
        for key in meta["scored_layers"]:
            i = state.layers.index(key)
            state.rankings[key] = {
                name: TopK(
                    scores=np.asarray(arrays[f"{i}.{name}.scores"], dtype=np.float64),
                    indices=np.asarray(arrays[f"{i}.{name}.indices"], dtype=np.int64),
                    positions=np.asarray(arrays[f"{i}.{name}.positions"], dtype=np.int64),
                )
                for name in _RANKINGS
            }
            state.map_shapes[key] = tuple(meta["map_shapes"][key])
            state.layouts[key] = meta["layouts"][key]
        state.scored = int(meta["scored"])
        state.skipped = [(int(p), image_id, reason) for p, image_id, reason in meta["skipped"]]
        state.done = [(int(a), int(b)) for a, b in meta["done"]]
        return state

    def to_bytes(self) -> bytes:
        """The state as one ``.npz`` blob (arrays plus a JSON entry), for sending between workers."""
        arrays, meta = self.to_arrays()
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> RunState:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            return cls.from_arrays(data, json.loads(str(data["meta"])))


def _empty_ranks(layer: LayerScores, k: int) -> dict[str, TopK]:
    channels = layer.means.shape[1]
    return {
        "mean": TopK.empty(channels, k),
        "max": TopK.empty(channels, k, len(layer.map_shape)),
    }


def add_ranges(ranges: list[tuple[int, int]], positions: Sequence[int]) -> list[tuple[int, int]]:
    """``ranges`` (sorted, disjoint ``[start, stop)``) with ``positions`` added, merged.

    Examples
    --------
    >>> add_ranges([(0, 2)], [2, 3, 7])
    [(0, 4), (7, 8)]
    """
    return _merged([*ranges, *((int(p), int(p) + 1) for p in positions)])


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged
