"""What every explorer tab shares: the selection it draws, the redraw-only-on-change rule, helpers."""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import ipywidgets as w
import numpy as np

from featviz_widgets.widgets._data import ExplorerData


@dataclass(frozen=True)
class Selection:
    """The explorer's controls as plain values: everything a tab needs to draw.

    ``channel`` is ``"grid"``, ``"sum"`` or a channel index; ``page`` counts from 0.
    """

    layer: str
    channel: int | str
    columns: int
    page: int
    page_size: int
    normalization: str
    colormap: str
    order: str
    image_id: int


class Tab:
    """One tab: a widget plus ``update``, which redraws only when its inputs changed.

    Subclasses set ``title``, build ``self.widget`` and implement ``key`` (what the picture depends
    on) and ``draw``. ``request`` is the explorer's render callback, for the tab's own controls.
    """

    title = ""
    widget: w.Widget  # built by each subclass

    def __init__(self, request: Callable[[], None]) -> None:
        self.request = request
        self._shown: Hashable = None

    def key(self, sel: Selection) -> Hashable:
        return sel

    def draw(self, data: ExplorerData, sel: Selection) -> None:
        raise NotImplementedError

    def update(self, data: ExplorerData, sel: Selection) -> None:
        """Draw ``sel`` unless the tab already shows it."""
        key = self.key(sel)
        if key != self._shown:
            self._shown = None  # a failed draw must not look current
            self.draw(data, sel)
            self._shown = key

    def png(self) -> bytes | None:
        """The PNG the tab shows now (None when it shows no picture)."""
        return None


class PngCache:
    """A small LRU of rendered PNGs (with what goes with them), so flipping back costs nothing."""

    def __init__(self, size: int = 48) -> None:
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._size = size

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()


def image_widget() -> w.Image:
    """A PNG image at its own size, shrunk to the output width instead of overflowing it.

    ``align_self`` keeps the flex column from stretching a small picture to the full width.
    """
    layout = w.Layout(max_width="100%", height="auto", align_self="flex-start")
    image = w.Image(format="png", layout=layout)
    image.add_class("featviz-image")
    return image


def caption(text: str) -> str:
    return f"<div style='font-family:monospace;font-size:12px'>{html.escape(text)}</div>"


def note(text: str) -> str:
    """A plain message shown where a picture would be."""
    return f"<div style='padding:8px;color:#555'>{html.escape(text)}</div>"


def tile_rgb(images: list[np.ndarray], cols: int, pad: int = 2) -> np.ndarray:
    """Tile same-size uint8 HxWx3 images in rows of ``cols`` with a white separator."""
    if not images:
        raise ValueError("tile_rgb needs at least one image")
    h, wd = images[0].shape[:2]
    cols = max(1, min(cols, len(images)))
    rows = -(-len(images) // cols)
    out = np.full((rows * h + (rows - 1) * pad, cols * wd + (cols - 1) * pad, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (wd + pad) : c * (wd + pad) + wd] = img
    return out
