"""The result of :func:`~featviz_widgets.examples.top_examples`: the best images per channel.

Saved as one ``.npz`` file: the rankings as plain arrays and the rest (layers, image ids, skipped
images, fingerprint, preprocessing) as one JSON string entry. Loading never unpickles anything
(``np.load(..., allow_pickle=False)``), so a result file from elsewhere cannot run code.

Examples
--------
>>> import tempfile, os, torch
>>> from torch import nn
>>> from featviz_widgets.examples import top_examples
>>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
>>> found = top_examples(net, torch.rand(6, 3, 16, 16), "1", k=2, size=16, progress=False)
>>> path = os.path.join(tempfile.mkdtemp(), "examples.npz")
>>> found.save(path)
>>> Examples.load(path).indices["1"].shape
(4, 2)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .fingerprint import FORMAT
from .state import RunState
from .topk import EMPTY, TopK

__all__ = ["Examples"]


@dataclass(eq=False)
class Examples:
    """The images that excite each channel most, by mean and by max, best first.

    Attributes
    ----------
    layers : the layers (capture keys) ranked.
    k : images kept per channel (the arrays are narrower when fewer images were scored).
    image_ids : one id per image of the source, by position: its path, or its position in the
        source (list, dataset or iterable).
    indices, scores : ``{layer: [C, k]}`` positions into ``image_ids`` and their mean activation
        (over space, ViT patch tokens, time), best first; ties go to the lower position.
    max_indices, max_scores : the same ranking by the channel's largest value.
    max_positions : ``{layer: [C, k, D]}`` where that largest value sits in the channel's map
        (``(y, x)``; ``(t, y, x)`` for video; ``D = 0`` for vector outputs).
    map_shapes : ``{layer: (H, W)}`` (or ``(T, H, W)``, or ``()``): the map the positions index.
    layouts : ``{layer: layout}`` how each output was read (``"channels_first"``, ``"tokens"``...).
    partial : True when the run stopped early (cancel, Ctrl-C): only ``done`` was looked at.
    skipped : ``(image id, reason)`` per image that failed to load.
    scored : how many images were scored.
    fingerprint : hash of the weights, layers, preprocessing and image list (see
        :mod:`~featviz_widgets.examples.fingerprint`).
    preprocessing : the recipe the images were prepared with, as JSON values.
    """

    state: RunState
    image_ids: list[Any]
    partial: bool
    fingerprint: str
    preprocessing: dict[str, Any]
    indices: dict[str, np.ndarray] = field(init=False, repr=False)
    scores: dict[str, np.ndarray] = field(init=False, repr=False)
    max_indices: dict[str, np.ndarray] = field(init=False, repr=False)
    max_scores: dict[str, np.ndarray] = field(init=False, repr=False)
    max_positions: dict[str, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.indices, self.scores, self.max_indices, self.max_scores = {}, {}, {}, {}
        self.max_positions = {}
        for key, ranks in self.state.rankings.items():
            self.indices[key], self.scores[key], _ = _trimmed(ranks["mean"])
            self.max_indices[key], self.max_scores[key], positions = _trimmed(ranks["max"])
            self.max_positions[key] = positions

    # -- reading ------------------------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        return self.state.layers

    @property
    def k(self) -> int:
        return self.state.k

    @property
    def map_shapes(self) -> dict[str, tuple[int, ...]]:
        return self.state.map_shapes

    @property
    def layouts(self) -> dict[str, str]:
        return self.state.layouts

    @property
    def scored(self) -> int:
        return self.state.scored

    @property
    def skipped(self) -> list[tuple[Any, str]]:
        return [(image_id, reason) for _, image_id, reason in self.state.skipped]

    @property
    def done(self) -> list[tuple[int, int]]:
        """The ``[start, stop)`` ranges of source positions handled (all of them unless partial)."""
        return self.state.done

    def top(self, layer: str, channel: int, by: str = "mean") -> list[tuple[Any, float]]:
        """``[(image id, score), ...]`` for one channel, best first (``by`` is mean or max).

        Examples
        --------
        >>> found.top("1", 0)  # doctest: +SKIP
        [(3, 0.41...), (0, 0.39...)]
        """
        if by not in ("mean", "max"):
            raise ValueError(f"by must be 'mean' or 'max', got {by!r}")
        if layer not in self.indices:
            raise KeyError(f"{layer!r} was not ranked; ranked layers: {list(self.indices)}")
        indices = (self.indices if by == "mean" else self.max_indices)[layer][channel]
        scores = (self.scores if by == "mean" else self.max_scores)[layer][channel]
        return [(self.image_ids[i], float(s)) for i, s in zip(indices, scores, strict=True)]

    def __repr__(self) -> str:
        state = "partial" if self.partial else "complete"
        shapes = ", ".join(f"{key}: {tuple(a.shape)}" for key, a in self.indices.items())
        return (
            f"Examples({state}, {self.scored} of {len(self.image_ids)} images scored, "
            f"{len(self.skipped)} skipped, k={self.k}, {shapes})"
        )

    # -- saving ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write one ``.npz`` file (arrays plus a JSON entry; no pickle). Replaces atomically.

        Examples
        --------
        >>> found.save("examples.npz")  # doctest: +SKIP
        """
        arrays, meta = self.state.to_arrays()
        meta.update(
            format=FORMAT,
            image_ids=self.image_ids,
            partial=self.partial,
            fingerprint=self.fingerprint,
            preprocessing=self.preprocessing,
        )
        path = os.fspath(path)
        partial_file = f"{path}.{os.getpid()}.tmp.npz"
        np.savez(partial_file, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(partial_file, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Examples:
        """Read a file written by :meth:`save`; ValueError when it is not one.

        Examples
        --------
        >>> Examples.load("examples.npz").partial  # doctest: +SKIP
        False
        """
        try:
            with np.load(os.fspath(path), allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format") != FORMAT:
                    raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
                state = RunState.from_arrays(data, meta)
        except (OSError, KeyError, ValueError, json.JSONDecodeError) as error:
            raise ValueError(
                f"{os.fspath(path)!r} is not a saved Examples file: {error}"
            ) from error
        return cls(
            state=state,
            image_ids=list(meta["image_ids"]),
            partial=bool(meta["partial"]),
            fingerprint=str(meta["fingerprint"]),
            preprocessing=dict(meta["preprocessing"]),
        )


def _trimmed(top: TopK) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (``-1`` for an empty slot), scores and positions, cut to the filled width."""
    width = top.filled()
    indices = top.indices[:, :width]
    indices = np.where(indices == EMPTY, -1, indices)
    return indices, top.scores[:, :width].copy(), top.positions[:, :width].copy()
