"""The Examples tab's data and pictures: the explorer's dataset, its on-disk cache, crops, overlays.

:class:`DatasetExamples` holds the ``dataset=`` of a :class:`LayerExplorer`: it reads the images
again for display (prepared exactly like the explorer's photo), finds a result saved on disk for a
set of layers (keyed by :func:`featviz_widgets.examples` fingerprint: weights, layers,
preprocessing, images) and runs :func:`~featviz_widgets.examples.top_examples` with that cache.

Cached results live under ``platformdirs.user_cache_dir("featviz_widgets")/examples``, or under
``$FEATVIZ_CACHE_DIR/examples`` when that variable is set (the tests point it at a temp folder).

The pictures carry no text: a channel's scores go in the captions.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs
import torch
from PIL import Image

from featviz_widgets import layout, render
from featviz_widgets.engine import capture, owner_for, parse_key, receptive_field
from featviz_widgets.examples import Examples, top_examples
from featviz_widgets.examples.fingerprint import fingerprint, images_digest, model_digest
from featviz_widgets.examples.sources import Source, Stream, open_source
from featviz_widgets.inputs import preprocessing
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets.strings import widget_error

CACHE_ENV = "FEATVIZ_CACHE_DIR"
BATCH_BYTES = 256 * 2**20  # one batch's captured outputs stay under this (then 1..32 images)
MAX_BATCH = 32
ROW_PAD = 2  # px between the pictures of a row (render.tile_rgb's white separators)
PICTURES_KEPT = 64  # prepared dataset pictures kept for redraws (a grid page, a top-k row)


def cache_dir() -> Path:
    """Where results are saved: ``$FEATVIZ_CACHE_DIR/examples`` or the user cache directory."""
    base = os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("featviz_widgets")
    return Path(base) / "examples"


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
        return cache_dir() / f"{key[:40]}-k{k}.npz"

    def saved(self, layers: Sequence[str], k: int) -> Examples | None:
        """The result saved for exactly these ``layers`` and ``k`` (complete or partial), or None."""
        path = self.cache_file(layers, k)
        if not path.exists():
            return None
        try:
            return Examples.load(path)
        except ValueError:  # a damaged file: the next run replaces it
            return None

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


def crop_around(picture: np.ndarray, position: np.ndarray, map_shape: tuple[int, ...],
                side: tuple[int, int], thumb: int) -> np.ndarray:  # fmt: skip
    """The receptive field (``side``) of map cell ``position`` in ``picture``, at ``thumb`` px.

    A cell ``(y, x)`` of an ``h x w`` map sits at ``((y + 0.5) * H / h, (x + 0.5) * W / w)`` in
    the ``H x W`` picture (video ``(t, y, x)``: the last two). A field under a quarter of the
    picture is shown with context around it (a quarter of the picture) and outlined; vectors (no
    position) give the whole picture.
    """
    if len(map_shape) < 2 or len(position) < 2:
        return thumbnail(picture, thumb)
    height, width = picture.shape[:2]
    centre = ((int(position[-2]) + 0.5) * height / map_shape[-2],
              (int(position[-1]) + 0.5) * width / map_shape[-1])  # fmt: skip
    field = _box(centre, side, (height, width))
    view = (max(side[0], -(-height // 4)), max(side[1], -(-width // 4)))
    top, left, box_h, box_w = _box(centre, view, (height, width))
    tile = thumbnail(picture[top : top + box_h, left : left + box_w], thumb)
    if view == side:
        return tile
    scale_y, scale_x = thumb / box_h, thumb / box_w
    y0, x0 = round((field[0] - top) * scale_y), round((field[1] - left) * scale_x)
    y1 = min(thumb, round((field[0] - top + field[2]) * scale_y)) - 1
    x1 = min(thumb, round((field[1] - left + field[3]) * scale_x)) - 1
    return _outlined(tile, y0, x0, y1, x1)


def _box(centre: tuple[float, float], side: tuple[int, int],
         bounds: tuple[int, int]) -> tuple[int, int, int, int]:  # fmt: skip
    """(top, left, height, width) of a ``side`` box centred on ``centre``, inside ``bounds``."""
    box_h, box_w = min(side[0], bounds[0]), min(side[1], bounds[1])
    top = int(np.clip(round(centre[0] - box_h / 2), 0, bounds[0] - box_h))
    left = int(np.clip(round(centre[1] - box_w / 2), 0, bounds[1] - box_w))
    return top, left, box_h, box_w


def _outlined(tile: np.ndarray, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
    """``tile`` with a white rectangle (black on its outside) from (y0, x0) to (y1, x1)."""
    out = tile.copy()
    for colour, grow in (((0, 0, 0), 1), ((255, 255, 255), 0)):
        top, left = max(0, y0 - grow), max(0, x0 - grow)
        bottom, right = min(out.shape[0] - 1, y1 + grow), min(out.shape[1] - 1, x1 + grow)
        out[top, left : right + 1] = out[bottom, left : right + 1] = colour
        out[top : bottom + 1, left] = out[top : bottom + 1, right] = colour
    return out


def thumbnail(picture: np.ndarray, side: int) -> np.ndarray:
    """``picture`` scaled to ``side`` x ``side`` (nearest when enlarging: pixels stay pixels)."""
    image = Image.fromarray(picture)
    grow = max(image.size) < side
    return np.asarray(image.resize((side, side), Image.NEAREST if grow else Image.BILINEAR))


def blank(side: int) -> np.ndarray:
    """A grey tile for a channel with no example (no image scored)."""
    return np.full((side, side, 3), 200, dtype=np.uint8)


def row_png(tiles: Sequence[np.ndarray], cols: int) -> bytes:
    return render.to_png(render.tile_rgb(list(tiles), cols=cols, pad=ROW_PAD))


def overlay_tile(picture: np.ndarray, heat: np.ndarray | None, side: int, cmap: str) -> np.ndarray:
    """The picture at ``side`` px with ``heat`` over it (the bare picture for a vector unit)."""
    small = thumbnail(picture, side)
    if heat is None:
        return small
    return render.overlay(small, heat, alpha=0.5, cmap=cmap)
