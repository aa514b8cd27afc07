"""Picture: the explorer's PNG as an anywidget, with hover readouts and click-to-select.

A drop-in for the ``ipywidgets.Image`` the tabs used: ``.value`` is the PNG, ``.layout`` styles it,
and it carries the CSS class ``featviz-image``. Its ESM (``_static/picture.js``, plain JS shipped in
the package: no build step) draws the PNG and a tooltip, and answers hover in the browser.

What Python sends with a picture (:meth:`Picture.show`):

- ``geometry`` (a small dict, PNG pixels): ``version`` (counts pictures), ``kind`` (``"grid"``,
  ``"map"``, ``"strip"``, ``"sheet"``, ``"kernels"``), ``width``/``height``, ``tiles`` (one
  ``[x, y, w, h]`` per tile, from the renderer's own geometry: ``render.tile_boxes`` and friends),
  ``channels`` (the channel each tile shows; None for a sum), ``means``/``maxes`` (per tile, or
  None), ``cols`` (tiles per row, for the up/down keys), ``click`` (``"select"``: a click picks
  the tile's channel; ``"none"``), ``map`` (the activation map's ``[h, w]``), ``cells`` (the
  ``[rows, cols]`` of values per tile, None without a value readout), ``range`` (``[min, max]``
  of the values) and ``values_bytes`` (the size of the float16 copy).
- ``words``: the tooltip's few words in the explorer's language (the JS has no language logic).

Value readout, the trait ``readout``:

- ``"local"`` (the default): on the first pointer-enter of a picture the browser asks once for a
  float16 copy of its values (``[tiles, rows, cols]``, one binary message) and reads the value
  under the pointer from it: no kernel round trip per move, and a picture nobody hovers costs
  nothing. The copy holds the activations at map resolution (the exact value under the pointer,
  also where the grid is drawn box-averaged); above ``MAX_VALUES`` values it is box-averaged by an
  integer factor. ``MAX_VALUES`` is 2**20 (2 MiB of float16): every page of MobileNetV2 and
  ResNet-50 at 224 px fits whole (the largest, ResNet-50's ``layer1`` / ``conv1``, is 802,816
  values, 1.6 MB), and 2 MiB is ~20 ms on a local socket and under a second on a slow remote hub,
  paid once per hovered picture.
- ``"kernel"``: each move to another cell sends ``{"event": "read", ...}`` and the kernel answers
  with the float32 value (one request in flight at a time; ``benchmarks/browser_latency.py``
  measures both side by side).

Messages from the browser (``{"event": ...}``): ``"pick"`` (a click on a tile: ``channel``,
``tile``), ``"back"`` (double-click or Escape), ``"step"`` (arrow keys: ``by`` = +-1, or +-cols for
up/down); they go to the handler set with :meth:`Picture.on_event` (the tabs move the explorer's
selection with ``ctx.select``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from featviz_widgets.widgets.strings import text

READOUTS = ("local", "kernel")
MAX_VALUES = 2**20  # float16 values per picture (2 MiB); see the module docstring for why
_STATIC = Path(__file__).parent / "_static"
_WORDS = ("channel", "mean", "max", "value", "sum")


def tooltip_words(lang: str) -> dict[str, str]:
    """The words the tooltip uses, in ``lang`` (``"channel"`` -> ``"通道"`` in Chinese)."""
    return {word: text(lang, f"tooltip_{word}") for word in _WORDS}


@dataclass(frozen=True)
class Tiles:
    """What a picture shows where: built by the tabs from the renderer's geometry.

    ``boxes`` is int ``[n, 4]`` ``(x, y, w, h)`` in PNG pixels; ``channels`` the channel of each
    tile (None for a sum); ``cells`` the ``(rows, cols)`` of values each tile holds (None: no value
    readout); ``map_size`` the activation map's ``(h, w)``; ``title`` what the tooltip names in
    place of the channel (a map that is not one channel's, e.g. a class's attribution). Small: it
    is cached with its PNG.
    """

    kind: str
    size: tuple[int, int]  # (width, height) of the PNG
    boxes: np.ndarray
    channels: Sequence[int | None]
    click: bool = True
    cols: int = 1
    cells: tuple[int, int] | None = None
    map_size: tuple[int, int] | None = None
    means: np.ndarray | None = None
    maxes: np.ndarray | None = None
    value_range: tuple[float, float] | None = None
    title: str | None = None

    def __post_init__(self) -> None:
        if len(self.boxes) != len(self.channels):
            raise ValueError(f"{len(self.boxes)} tile boxes for {len(self.channels)} channels")


class Picture(anywidget.AnyWidget):
    """A PNG with a tooltip on hover and tiles you can click (see the module docstring).

    Examples
    --------
    >>> picture = Picture(lang="en")
    >>> picture.value = png_bytes  # doctest: +SKIP  (a plain picture: nothing to point at)
    >>> picture.show(png_bytes, tiles, values=lambda: maps)  # doctest: +SKIP
    """

    # The files' text, not their paths: anywidget ties every instance made from a path to that
    # file's change signal (hot reload) and so keeps every picture, and the explorer and model
    # behind it, alive for the life of the process.
    _esm = (_STATIC / "picture.js").read_text(encoding="utf-8")
    _css = (_STATIC / "picture.css").read_text(encoding="utf-8")
    value = traitlets.Bytes(b"").tag(sync=True)
    geometry = traitlets.Dict().tag(sync=True)
    words = traitlets.Dict().tag(sync=True)
    readout = traitlets.Unicode("local").tag(sync=True)

    def __init__(self, *, lang: str = "en", **kwargs: Any) -> None:
        super().__init__(words=tooltip_words(lang), **kwargs)
        self.add_class("featviz-image")
        self._values: Callable[[], np.ndarray] | None = None
        self._pooled: np.ndarray | None = None  # the values as the browser reads them, float32
        self._step = 1
        self._showing = False
        self._handler: Callable[[dict], None] | None = None
        self.values_sent = 0  # bytes of float16 values sent so far (benchmarks read it)
        self.on_msg(self._on_message)
        self.observe(self._forget, "value")

    @traitlets.validate("readout")
    def _check_readout(self, proposal: dict) -> str:
        if proposal["value"] not in READOUTS:
            raise ValueError(f"readout={proposal['value']!r}: choose one of {READOUTS}")
        return proposal["value"]

    def show(
        self, png: bytes, tiles: Tiles | None = None, values: Callable[[], np.ndarray] | None = None
    ) -> None:
        """Show ``png`` with its ``tiles``; ``values()`` gives float32 ``[n, *tiles.cells]`` on demand.

        ``values`` is called only when the browser first asks (a hover), or a kernel readout.
        """
        version = int(self.geometry.get("version", 0)) + 1
        geometry: dict[str, Any] = {"version": version}
        self._step = 1
        if tiles is not None:
            if tiles.cells is not None and values is None:
                tiles = replace(tiles, cells=None)  # nothing to read a value from
            if tiles.cells is not None:
                self._step = _pool_step(len(tiles.channels), tiles.cells)
            geometry.update(_geometry_of(tiles, self._step))
        with self.hold_sync():
            self._showing = True
            try:
                self.value = png
                self.geometry = geometry
            finally:
                self._showing = False
        self._values = values if tiles is not None and tiles.cells is not None else None
        self._pooled = None

    def on_event(self, handler: Callable[[dict], None] | None) -> None:
        """Call ``handler(message)`` for each pick / back / step message from the browser."""
        self._handler = handler

    def values_payload(self) -> np.ndarray | None:
        """The float16 ``[tiles, rows, cols]`` copy the browser reads values from (None: none)."""
        pooled = self._cells()
        return None if pooled is None else pooled.astype(np.float16)

    def read(self, tile: int, row: int, col: int) -> float | None:
        """The value of cell ``(row, col)`` of ``tile`` (the kernel readout), None outside."""
        pooled = self._cells()
        if pooled is None or not (0 <= tile < pooled.shape[0]):
            return None
        if not (0 <= row < pooled.shape[1] and 0 <= col < pooled.shape[2]):
            return None
        value = float(pooled[tile, row, col])
        return value if np.isfinite(value) else None

    # -- the browser's messages ------------------------------------------------------------
    def _on_message(self, _widget: Any, content: dict, _buffers: Any) -> None:
        event = content.get("event") if isinstance(content, dict) else None
        current = content.get("version") == self.geometry.get("version")
        if event == "values" and current:
            payload = self.values_payload()
            if payload is not None:
                data = payload.tobytes()
                self.values_sent += len(data)
                self.send({"event": "values", "version": content["version"]}, [data])
        elif event == "read":
            value = self.read(*(int(content.get(k, -1)) for k in ("tile", "row", "col")))
            reply = {"event": "value", "seq": content.get("seq"), "version": content.get("version")}
            self.send({**reply, "value": value if current else None})
        elif event in ("pick", "back", "step") and self._handler is not None:
            self._handler(content)

    def _cells(self) -> np.ndarray | None:
        """The values as the browser reads them (float32); kept only for the kernel readout, whose
        every move reads them (the local readout reads them once, then the browser has them)."""
        if self._pooled is not None or self._values is None:
            return self._pooled
        values = np.asarray(self._values(), dtype=np.float32)
        pooled = values if self._step == 1 else _pool(values, self._step)
        if self.readout == "kernel":
            self._pooled = pooled
        return pooled

    def _forget(self, _change: dict) -> None:
        """A PNG set directly (``picture.value = png``) has no tiles: forget the old ones."""
        if not self._showing:
            self._values, self._pooled = None, None
            self.geometry = {"version": int(self.geometry.get("version", 0)) + 1}


def _geometry_of(tiles: Tiles, step: int) -> dict[str, Any]:
    cells = None if tiles.cells is None else [-(-n // step) for n in tiles.cells]
    n = len(tiles.channels)
    return {
        "kind": tiles.kind,
        "width": int(tiles.size[0]),
        "height": int(tiles.size[1]),
        "tiles": np.asarray(tiles.boxes, dtype=np.int64).reshape(n, 4).tolist(),
        "channels": [None if c is None else int(c) for c in tiles.channels],
        "means": _floats(tiles.means),
        "maxes": _floats(tiles.maxes),
        "cols": int(tiles.cols),
        "click": "select" if tiles.click else "none",
        "map": None if tiles.map_size is None else [int(s) for s in tiles.map_size],
        "cells": cells,
        "range": _floats(tiles.value_range),
        "values_bytes": 0 if cells is None else 2 * n * cells[0] * cells[1],
        "title": tiles.title,
    }


def _floats(values: Any) -> list[float | None] | None:
    """JSON-safe floats, 4 significant digits (the tooltip shows 3); None for NaN and inf."""
    if values is None:
        return None
    return [float(f"{v:.4g}") if np.isfinite(v) else None for v in np.asarray(values, np.float64)]


def _pool_step(n: int, cells: tuple[int, int]) -> int:
    """The smallest integer box that brings ``n`` tiles of ``cells`` values under MAX_VALUES."""
    step = 1
    while n * -(-cells[0] // step) * -(-cells[1] // step) > MAX_VALUES and step < max(cells):
        step += 1
    return step


def _pool(values: np.ndarray, step: int) -> np.ndarray:
    """Mean of ``step x step`` blocks of ``[n, h, w]`` (smaller blocks at the edges, NaN ignored)."""
    n, h, w = values.shape
    rows, cols = -(-h // step), -(-w // step)
    padded = np.full((n, rows * step, cols * step), np.nan, dtype=np.float32)
    padded[:, :h, :w] = values
    blocks = padded.reshape(n, rows, step, cols, step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN block stays NaN
        return np.nanmean(blocks, axis=(2, 4)).astype(np.float32)
