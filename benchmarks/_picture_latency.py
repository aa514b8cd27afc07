"""Hover and click latency on the explorer's interactive picture, for ``browser_latency.py``.

* hover: a pointer move onto a tile of the feature-map grid to (1) the tooltip painted with the
  tile's channel, mean and max, and (2) the tooltip holding the value under the pointer, with the
  picture's value readout ``"local"`` (float16 copy in the browser) and ``"kernel"`` (asked of the
  kernel on every move). Clock: the ``pointermove`` event's timestamp to a MutationObserver on the
  tooltip (and the animation frame after it), all in the page (``picture_page.hover_tooltip``).
* click: a click on a grid tile to that channel's own picture decoded and painted (the page's
  ``window.__lat`` measurement of ``browser_latency.py``), plus the kernel's ``_render`` time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from lab_page import kernel_eval, wait_kernel_idle
from picture_page import Tile, geometry, hover_tooltip, on_screen, picture, tiles

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

HOVER_P95_TARGET_MS = 50.0  # a hover readout that follows the pointer without visible lag
CLICK_MEDIAN_TARGET_MS = 100.0  # a click that selects a channel feels immediate
READOUTS = ("local", "kernel")

# Kernel side: switch every Picture's value readout (the benchmark's notebook imports Picture).
SET_READOUT = (
    "[setattr(w, 'readout', {mode!r}) for w in list(ipywidgets.widgets.widget._instances.values())"
    " if isinstance(w, Picture)] and {mode!r}"
)


@dataclass
class Hovers:
    """Hover latencies of one readout on one model, in ms."""

    painted_ms: list[float] = field(default_factory=list)
    value_ms: list[float] = field(default_factory=list)
    first_value_ms: float = float("nan")  # the first hover of a fresh picture (local: fetch)
    values_bytes: int = 0  # float16 values the kernel sent for the measured picture


@dataclass
class Clicks:
    """Click-to-new-picture latencies on one model, in ms."""

    browser_ms: list[float] = field(default_factory=list)
    python_ms: list[float] = field(default_factory=list)
    missed: int = 0


def spread(all_tiles: list[Tile], count: int) -> list[Tile]:
    """``count`` tiles spread evenly over the grid, consecutive ones far apart."""
    n = len(all_tiles)
    return [all_tiles[int((i + 0.5) * n / count) % n] for i in range(count)]


def grid_view(page: Page, panel: Locator, img: Locator) -> tuple[dict, list[Tile]]:
    """The grid's geometry and its tiles on screen (page pixels), scrolled into view.

    The pointer goes to the page's corner first: scrolling the picture under a resting pointer
    would hover it, and fetch its values, before the measurement starts.
    """
    page.mouse.move(0, 0)
    picture(panel).scroll_into_view_if_needed()
    geom = geometry(page, img)
    return geom, on_screen(img, tiles(img, geom))


def measure_hovers(page: Page, panel: Locator, img: Locator, n: int, warmup: int) -> dict:
    """``{readout: Hovers}``: ``n`` measured hovers per readout after ``warmup`` ones."""
    out = {}
    for mode in READOUTS:
        kernel_eval(page, SET_READOUT.format(mode=mode))
        _, all_tiles = grid_view(page, panel, img)
        series, sent = Hovers(), _values_sent(page)
        for i, tile in enumerate(spread(all_tiles, warmup + n)):
            hover = hover_tooltip(page, picture(panel), tile, timeout_ms=15_000)
            if i == 0:
                series.first_value_ms = hover["ready_ms"]
            if i >= warmup:
                series.painted_ms.append(hover["painted_ms"])
                series.value_ms.append(hover["ready_ms"])
        series.values_bytes = _values_sent(page) - sent
        out[mode] = series
    kernel_eval(page, SET_READOUT.format(mode="local"))
    return out


def _values_sent(page: Page) -> int:
    """Bytes of float16 values every Picture in the kernel has sent so far."""
    return int(
        kernel_eval(
            page,
            "sum(w.values_sent for w in list(ipywidgets.widgets.widget._instances.values())"
            " if isinstance(w, Picture))",
        )
    )


def measure_clicks(
    page: Page,
    panel: Locator,
    img: Locator,
    reset: Callable[[], None],
    timed: Callable[[Callable[[], None]], tuple[float, float] | None],
    n: int,
    warmup: int,
) -> Clicks:
    """Click ``warmup + n`` tiles of the grid (``reset()`` back to it in between, unmeasured).

    ``timed(action)`` runs the action and returns ``(browser ms, python ms)``, or None when no
    new picture came.
    """
    _, all_tiles = grid_view(page, panel, img)
    series = Clicks()
    for i, tile in enumerate(spread(all_tiles, warmup + n)):
        result = timed(lambda t=tile: page.mouse.click(t.x, t.y))
        if result is None:
            series.missed += i >= warmup
        elif i >= warmup:
            series.browser_ms.append(result[0])
            series.python_ms.append(result[1])
        reset()
        wait_kernel_idle(page, timeout_s=30)
    return series


def stats(values: list[float]) -> tuple[float, float]:
    """(median, p95); NaN for no values."""
    if not values:
        return float("nan"), float("nan")
    return float(np.median(values)), float(np.percentile(values, 95))


def hover_table(results: dict[str, dict[str, Hovers]]) -> list[str]:
    head = (
        "| model | readout | hovers | tooltip painted p50 ms | p95 ms | value shown p50 ms "
        "| p95 ms | first hover, value ms | float16 sent | target met |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for model, per_mode in results.items():
        for mode, s in per_mode.items():
            p50, p95 = stats(s.painted_ms)
            v50, v95 = stats(s.value_ms)
            ok = p95 <= HOVER_P95_TARGET_MS and v95 <= HOVER_P95_TARGET_MS
            lines.append(
                f"| {model} | {mode} | {len(s.painted_ms)} | {p50:.0f} | {p95:.0f} | {v50:.0f} "
                f"| {v95:.0f} | {s.first_value_ms:.0f} | {s.values_bytes / 1e6:.2f} MB "
                f"| {'yes' if ok else 'NO'} |"
            )
    return lines


def click_table(results: dict[str, Clicks]) -> list[str]:
    head = (
        "| model | clicks | browser median ms | browser p95 ms | python median ms "
        "| python p95 ms | target met |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|:---:|"]
    for model, s in results.items():
        bmed, b95 = stats(s.browser_ms)
        pmed, p95 = stats(s.python_ms)
        ok = bmed <= CLICK_MEDIAN_TARGET_MS and not s.missed
        missed = f" ({s.missed} missed)" if s.missed else ""
        lines.append(
            f"| {model} | {len(s.browser_ms)}{missed} | {bmed:.0f} | {b95:.0f} | {pmed:.0f} "
            f"| {p95:.0f} | {'yes' if ok else 'NO'} |"
        )
    return lines
