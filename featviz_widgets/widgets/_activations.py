"""``LayerExplorer.activations``: every module output of the explorer's image, read on demand."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch

from featviz_widgets.widgets._data import ExplorerData


class Activations(Mapping[str, torch.Tensor]):
    """Every module output of the explorer's image, key -> tensor (batch first), read-only.

    Keys (``name``, ``name#2``, ``name[0]``) come from the survey, in execution order, and cost
    nothing to list; a value is captured when it is read (one stop-early forward) unless the
    explorer still keeps it under the memory budget. Reading every value holds them all: prefer
    reading the layers you need.
    """

    def __init__(self, data: ExplorerData) -> None:
        self._data = data

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self._data.shapes:
            raise KeyError(key)
        return self._data.tensor(key)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data.shapes))

    def __len__(self) -> int:
        return len(self._data.shapes)

    def __contains__(self, key: object) -> bool:
        return key in self._data.shapes

    def __repr__(self) -> str:
        return f"<activations of {len(self)} module outputs, captured on access>"
