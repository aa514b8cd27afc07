"""The Examples tab's data: the explorer's dataset, its saved results, its unit maps and crops.

:class:`DatasetExamples` holds the ``dataset=`` of a :class:`LayerExplorer`: it reads the images
again for display (prepared exactly like the explorer's photo), finds a result saved on disk for a
set of layers (:mod:`featviz_widgets.examples.cache`, keyed by fingerprint: weights, layers,
preprocessing, images) and runs :func:`~featviz_widgets.examples.top_examples` with that file.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from featviz_widgets import layout
from featviz_widgets.engine import capture, owner_for, parse_key, receptive_field
from featviz_widgets.examples import Examples, top_examples
from featviz_widgets.examples.cache import load_saved, result_file
from featviz_widgets.examples.fingerprint import fingerprint, images_digest, model_digest
from featviz_widgets.examples.sources import Source, Stream, open_source
from featviz_widgets.inputs import preprocessing
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets.strings import widget_error

BATCH_BYTES = 256 * 2**20  # one batch's captured outputs stay under this (then 1..32 images)
MAX_BATCH = 32
PICTURES_KEPT = 64  # prepared dataset pictures kept for redraws (a grid page, a top-k row)


class DatasetExamples:
    """The explorer's dataset: pictures for display, fingerprints, cached and new results.

    ``dataset`` is anything ``top_examples`` accepts as ``images``; a one-pass iterable is read
    into memory once (the tab shows its images again). TypeError / ValueError name ``dataset=``
    (in ``lang``; the reason the sources give stays the library's English).
    """

    def __init__(self, data: ExplorerData, dataset: Any, lang: str = "en") -> None:
        try:
            source = open_source(dataset)
        except (TypeError, ValueError) as error:
            raise widget_error(lang, "err_dataset", type(error), error=error) from None
        if isinstance(source, Stream):
            source = source.materialize()
            dataset = [source.item(i) for i in range(len(source))]
        if len(source) == 0:
            raise widget_error(lang, "err_dataset_empty")
        self.data = data
        self.images = dataset
        self.source: Source = source
        self.recipe = preprocessing(
            data.model, weights=data.weights, size=data.size, preprocess=data.preprocess
        )
        self._images_hash: str | None = None
        self._model_hash: str | None = None
        self._pictures: OrderedDict[int, Image.Image] = OrderedDict()

    def __len__(self) -> int:
        return len(self.source)

    # -- results ---------------------------------------------------------------------------
    def cache_file(self, layers: Sequence[str], k: int) -> Path:
        """The file a result for ``layers`` and ``k`` is saved in (named by its fingerprint)."""
        if self._images_hash is None:
            self._images_hash = images_digest(self.source.tokens())
        if self._model_hash is None:
            self._model_hash = model_digest(self.data.model)
        key = fingerprint(self._model_hash, list(dict.fromkeys(layers)), self.recipe,
                          self._images_hash)  # fmt: skip
        return result_file(key, k)

    def saved(self, layers: Sequence[str], k: int) -> Examples | None:
        """The result saved for exactly these ``layers`` and ``k`` (complete or partial), or None."""
        return load_saved(self.cache_file(layers, k))

    def find(self, layers: Sequence[str], k: int, *, batch_size: int, progress: Any,
             cancel: Any) -> Examples:  # fmt: skip
        """Run (or resume, or read back) ``top_examples`` with this dataset's cache file."""
        self._model_hash = None  # the weights may have changed since the last look
        path = self.cache_file(layers, k)
        path.parent.mkdir(parents=True, exist_ok=True)
        return top_examples(
            self.data.model, self.images, list(layers), k, batch_size=batch_size,
            size=self.data.size, weights=self.data.weights, preprocess=self.data.preprocess,
            progress=progress, cancel=cancel, cache=path,
        )  # fmt: skip

    def batch_size(self, layers: Sequence[str]) -> int:
        """Images per forward so that one batch's captured outputs stay under BATCH_BYTES."""
        per_image = sum(4 * math.prod(self.data.shape(key)[1:]) for key in layers)
        return max(1, min(MAX_BATCH, BATCH_BYTES // max(per_image, 1)))

    # -- pictures --------------------------------------------------------------------------
    def picture(self, position: int) -> Image.Image:
        """The image at ``position`` as the model sees it (resized, cropped; not normalized)."""
        picture = self._pictures.get(position)
        if picture is None:
            picture = self.recipe.picture(self.source.item(position))
            self._pictures[position] = picture
            while len(self._pictures) > PICTURES_KEPT:
                self._pictures.popitem(last=False)
        self._pictures.move_to_end(position)
        return picture

    def rgb(self, position: int) -> np.ndarray:
        return np.asarray(self.picture(position).convert("RGB"), dtype=np.uint8)

    def label(self, found: Examples, position: int) -> str:
        """A short name for an image in captions: its file name, or ``#position``."""
        image_id = found.image_ids[position]
        return os.path.basename(image_id) if isinstance(image_id, str) else f"#{image_id}"

    def channel_maps(self, layer: str, positions: Sequence[int], channel: int) -> list[Any]:
        """One channel's map on each image (None for a vector output): one stop-early forward."""
        batch = torch.stack([self.recipe.tensor(self.picture(p)) for p in positions])
        batch = owner_for(self.data.model).still_clips(batch)  # a video model: still clips
        key = parse_key(layer)
        with self.data.using():
            acts = capture(self.data.model, batch, [key.name], stop_early=key.call == 1)
        values = acts[layer].detach().to("cpu", torch.float32).numpy()
        hint = layout.hint_for(self.data.hints, layer)
        maps: list[Any] = []
        for item in values:
            read = layout.to_channel_maps(item, hint=hint)
            if read.kind == "vector":
                maps.append(None)
            else:
                heat = read.maps[channel]
                maps.append(heat.mean(axis=0) if heat.ndim == 3 else heat)  # video: mean over time
        return maps

    def crop_side(self, layer: str, map_shape: tuple[int, ...]) -> tuple[int, int]:
        """The receptive field of ``layer`` in input pixels (graph arithmetic), or a box of three
        map cells when the model cannot be traced."""
        height, width = self.data.input_size
        try:
            size = receptive_field(self.data.model, parse_key(layer).name, (height, width),
                                   method="graph").size  # fmt: skip
        except ValueError:  # not traceable, or a graph node rather than a module
            cells = map_shape[-2:] if len(map_shape) >= 2 else (1, 1)
            size = (3 * height // cells[0], 3 * width // cells[1])
        return max(1, min(height, size[0])), max(1, min(width, size[1]))
