"""Playwright helpers for the explorer's interactive picture (``featviz_widgets/widgets/_picture.py``).

The picture's DOM contract: a focusable ``.featviz-picture`` holding ``img.featviz-picture-img``
and a ``.featviz-tooltip`` that shows ``channel N ...`` (``通道 N ...`` in Chinese) while the
pointer is over a tile. Where the tiles are comes from the Python side (``Picture.geometry``, PNG
pixels), read through the kernel: the picture on screen is matched to its widget by the SHA-256 of
its PNG bytes, so the tests depend on no widget internals. Shared by the browser tests and
``benchmarks/browser_latency.py``.
"""

from __future__ import annotations

import ast
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lab_page import kernel_eval
from playwright.sync_api import TimeoutError as PlaywrightTimeout

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

# "channel 12 · mean ..." (en) or "通道 12 · ..." (zh): the word, then the channel number.
TOOLTIP_CHANNEL = re.compile(r"^\s*(channel|通道)\s+(\d+)")

# SHA-256 of the PNG the <img> shows, fetched back from its blob: URL (same bytes as Picture.value).
_PNG_SHA_JS = """async (img) => {
  const bytes = await (await fetch(img.src)).arrayBuffer();
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map(b => b.toString(16).padStart(2, '0')).join('');
}"""

# The geometry of the live Picture widget whose PNG has this digest, as JSON (None: no such one).
_GEOMETRY_EXPR = (
    "__import__('json').dumps(next((w.geometry for w in list(__import__('ipywidgets')"
    ".widgets.widget._instances.values()) if type(w).__name__ == 'Picture' and "
    "__import__('hashlib').sha256(w.value).hexdigest() == {sha!r}), None))"
)

# Arms one hover measurement on a picture: the pointer event's timestamp starts the clock; the
# tooltip showing a channel number stops it, both at the DOM change and at the next frame.
_ARM_HOVER_JS = """(root) => {
  const tip = root.querySelector('.featviz-tooltip');
  const H = window.__hover = {t0: null, dom: null, frame: null, ready: null, text: null};
  const shown = () => !tip.hidden && /^\\s*\\S+\\s+\\d+/.test(tip.textContent);
  if (!root.__hoverArmed) {
    root.__hoverArmed = true;
    root.addEventListener('pointermove', (e) => {
      const L = window.__hover; if (L && L.t0 === null) { L.t0 = e.timeStamp; } }, true);
    new MutationObserver(() => {
      const L = window.__hover;
      if (!L || L.t0 === null || !shown()) { return; }
      const now = performance.now();
      if (L.dom === null) {
        L.dom = now; L.text = tip.textContent;
        requestAnimationFrame(() => { L.frame = performance.now(); });
      }
      if (L.ready === null && tip.dataset.state !== 'pending') { L.ready = now; }
    }).observe(tip, {attributes: true, childList: true, characterData: true, subtree: true});
  }
}"""


@dataclass(frozen=True)
class Tile:
    """One tile of the picture: its channel and its centre in page (CSS) pixels."""

    index: int
    channel: int | None
    x: float
    y: float


def picture(panel: Locator) -> Locator:
    """The visible interactive picture of a tab panel."""
    return panel.locator(".featviz-picture:visible").first


def picture_img(panel: Locator) -> Locator:
    return picture(panel).locator("img.featviz-picture-img")


def png_sha256(img: Locator) -> str:
    return img.evaluate(_PNG_SHA_JS)


def geometry(page: Page, img: Locator) -> dict:
    """``Picture.geometry`` (from the kernel) of the picture ``img`` shows right now."""
    sha = png_sha256(img)
    found = json.loads(ast.literal_eval(kernel_eval(page, _GEOMETRY_EXPR.format(sha=sha))))
    if found is None:
        raise AssertionError(f"no Picture widget in the kernel holds the PNG on screen ({sha})")
    return found


def tiles(img: Locator, geom: dict) -> list[Tile]:
    """Every tile of ``geom`` with its centre mapped from PNG pixels to the page."""
    box = img.bounding_box()
    scale_x = box["width"] / geom["width"]
    scale_y = box["height"] / geom["height"]
    return [
        Tile(i, channel, box["x"] + (x + w / 2) * scale_x, box["y"] + (y + h / 2) * scale_y)
        for i, ((x, y, w, h), channel) in enumerate(
            zip(geom["tiles"], geom["channels"], strict=True)
        )
    ]


def on_screen(img: Locator, all_tiles: list[Tile]) -> list[Tile]:
    """The tiles whose centre the pointer can reach: inside the viewport and not under anything
    else (a tall grid runs past the window's bottom, or under JupyterLab's status bar)."""
    hits = img.evaluate(
        "(img, points) => points.map(([x, y]) => document.elementFromPoint(x, y) === img)",
        [[t.x, t.y] for t in all_tiles],
    )
    return [t for t, hit in zip(all_tiles, hits, strict=True) if hit]


def tile_by_columns(img: Locator, columns: int, row: int, col: int) -> Tile:
    """Where tile ``(row, col)`` of a grid ``columns`` wide is, from the picture's size alone.

    For pages without a kernel to ask (Voila): square maps, tiles in rows from the top-left
    corner; the centre is off by at most the 1-pixel separators, far inside the tile.
    """
    box = img.bounding_box()
    pitch = box["width"] / columns
    return Tile(
        row * columns + col, None, box["x"] + (col + 0.5) * pitch, box["y"] + (row + 0.5) * pitch
    )


def first_row(all_tiles: list[Tile], geom: dict) -> list[Tile]:
    """The tiles of the grid's top row, left to right (by their rectangles, not by count)."""
    top = min(y for _, y, _, _ in geom["tiles"])
    row = [t for t, (_, y, _, _) in zip(all_tiles, geom["tiles"], strict=True) if y == top]
    return sorted(row, key=lambda t: t.x)


def move_off(page: Page, root: Locator) -> None:
    """Put the pointer just above the picture (outside it), so the next move is a fresh hover."""
    box = root.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, max(0, box["y"] - 20))


def hover_tooltip(page: Page, root: Locator, tile: Tile, timeout_ms: int = 5000) -> dict:
    """Hover ``tile``; return ``{"text", "shown_ms", "painted_ms", "ready_ms"}``.

    ``shown_ms``: pointer event to the tooltip in the DOM with a channel number; ``painted_ms``:
    to the next animation frame after that (what the eye can see); ``ready_ms``: to the tooltip
    holding its value too (a kernel readout answers later than the channel and statistics).
    """
    move_off(page, root)
    root.evaluate(_ARM_HOVER_JS)
    page.mouse.move(tile.x, tile.y)
    try:
        page.wait_for_function(
            "() => window.__hover.frame !== null && window.__hover.ready !== null",
            timeout=timeout_ms,
        )
    except PlaywrightTimeout:
        tip = root.locator(".featviz-tooltip")
        shown = tip.evaluate("t => [t.hidden, t.dataset.state, t.textContent]")
        raise AssertionError(
            f"hover on {tile}: no tooltip with a channel and a value within {timeout_ms} ms; "
            f"measured {page.evaluate('() => window.__hover')}, tooltip (hidden, state, text) "
            f"{shown}"
        ) from None
    hover = page.evaluate("() => window.__hover")
    return {
        "text": hover["text"],
        "shown_ms": hover["dom"] - hover["t0"],
        "painted_ms": hover["frame"] - hover["t0"],
        "ready_ms": hover["ready"] - hover["t0"],
    }


def tooltip_channel(text: str) -> int:
    """The channel number a tooltip names; AssertionError when it names none."""
    match = TOOLTIP_CHANNEL.match(text)
    if not match:
        raise AssertionError(f"tooltip names no channel: {text!r}")
    return int(match.group(2))


def channel_label_number(select: Locator) -> int | None:
    """The channel the Channel dropdown shows (None for the grid or the sum)."""
    label = select.evaluate("s => s.options[s.selectedIndex].textContent")
    match = re.search(r"(\d+)", label)
    return int(match.group(1)) if match else None


def poll(page: Page, check: Callable[[], object], what: str, timeout_s: float = 20) -> object:
    """Call ``check()`` until it returns something truthy; AssertionError naming ``what`` if never."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f}s (last {value!r})")
        page.wait_for_timeout(50)
