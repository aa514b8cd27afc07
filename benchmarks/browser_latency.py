"""Latency a user feels in JupyterLab: hovering and clicking the feature-map grid, and changing a
control, to the tooltip or the new picture painted.

For MobileNetV2 (ImageNet weights, offline) and ResNet-50 (random weights) this starts JupyterLab
on loopback, runs a generated notebook holding one ``LayerExplorer`` in headless Debian chromium,
hovers grid tiles with both value readouts and clicks tiles (see ``_picture_latency.py``), and
changes each control (layer, channel, grid width, normalization) at least 20 times:

* browser ms: ``performance.now()`` at the input event (capture-phase listener on ``document``) to
  the frame after the new ``<img src>`` decoded (MutationObserver -> ``img.decode()`` ->
  ``requestAnimationFrame`` -> ``setTimeout 0``, i.e. after that frame was painted);
* python ms: in the kernel, the time spent in the explorer's ``_fill_channels`` + ``_render`` for
  that change (wrapped by the generated notebook; the feature-map PNG cache is cleared before each
  render so every change pays for a fresh render, the worst case).

Prints the tables and writes the "## Browser latency" section of benchmarks/RESULTS.md.
Usage: ``python benchmarks/browser_latency.py [--changes 20] [--no-write]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from playwright.sync_api import TimeoutError as PlaywrightTimeout

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from _latency_notebook import MODELS, package_at, write_notebook  # noqa: E402
from _picture_latency import (  # noqa: E402
    Clicks,
    Hovers,
    click_table,
    hover_table,
    measure_clicks,
    measure_hovers,
    stats,
)
from _results import RESULTS, replace_section  # noqa: E402
from lab_harness import Server, jupyter_lab, launch_browser  # noqa: E402
from lab_page import (  # noqa: E402
    ConsoleLog,
    control,
    new_page,
    notebook,
    open_notebook,
    open_tab,
    run_all_cells,
    shown_image,
    visible_panel,
    wait_kernel_idle,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

SECTION = "## Browser latency"
T = TypeVar("T")
TARGET_MEDIAN_MS, TARGET_P95_MS = 150.0, 300.0
WARMUP = 2
CONTROLS = ("layer", "channel", "grid width", "normalization")
# The controls' baseline, measured in the same run: the package as of the last commit before the
# interactive picture (a plain ipywidgets Image). The controls must stay no slower than that;
# "no slower" allows 10% for the noise of a shared 2-core machine.
BASELINE_REV = "74c8cc9"
BASELINE_SLACK = 1.10

# Arms a one-shot measurement: the first input event starts the clock, the next painted src stops it.
_INSTALL_JS = """img => {
  window.__lat = {armed: false};
  const start = () => { const L = window.__lat;
    if (L.armed && L.t0 === undefined) { L.t0 = performance.now(); } };
  for (const ev of ['keydown', 'mousedown', 'input', 'change']) {
    document.addEventListener(ev, start, true);
  }
  new MutationObserver(() => {
    const L = window.__lat;
    if (!L.armed || L.t0 === undefined || L.pending) { return; }
    L.pending = true;
    img.decode().catch(() => {}).then(() => requestAnimationFrame(
      () => setTimeout(() => { L.t1 = performance.now(); }, 0)));
  }).observe(img, {attributes: true, attributeFilter: ['src']});
}"""


@dataclass
class Series:
    """Latencies of one control on one model."""

    browser_ms: list[float] = field(default_factory=list)
    python_ms: list[float] = field(default_factory=list)
    missed: int = 0


def _python_ms(timings: Path, seen: int, page: Page) -> tuple[float, int]:
    """Kernel time logged since line ``seen`` (waits for the kernel to finish the change)."""
    wait_kernel_idle(page, timeout_s=30)
    lines = timings.read_text().split()
    if len(lines) == seen:
        # The picture changed but no wrapped method ran: the explorer's internals moved on.
        raise RuntimeError("the kernel logged no _render/_fill_channels call for this change")
    return sum(float(x) for x in lines[seen:]), len(lines)


def timed_change(
    page: Page, timings: Path, action: Callable[[], None]
) -> tuple[float, float] | None:
    """Run ``action`` armed: (browser ms to the new picture painted, kernel ms for it).

    None when no new picture came within 15 s (counted as missed by the callers, not fatal).
    """
    seen = len(timings.read_text().split())
    page.evaluate("() => { window.__lat = {armed: true}; }")
    action()
    try:
        page.wait_for_function("() => window.__lat.t1 !== undefined", timeout=15_000)
    except PlaywrightTimeout:
        wait_kernel_idle(page, timeout_s=30)
        return None
    lat = page.evaluate("() => window.__lat.t1 - window.__lat.t0")
    python, _ = _python_ms(timings, seen, page)
    return lat, python


def measure(page: Page, timings: Path, action: Callable[[int], None], n: int) -> Series:
    """Run ``action(i)`` for WARMUP + n changes; time the measured ones."""
    series = Series()
    for i in range(WARMUP + n):
        result = timed_change(page, timings, lambda i=i: action(i))
        if result is None:
            series.missed += i >= WARMUP
        elif i >= WARMUP:
            series.browser_ms.append(result[0])
            series.python_ms.append(result[1])
    return series


def _quiet(page: Page, fn: Callable[[], object]) -> None:
    """An unmeasured change: disarm, do it, let the kernel settle."""
    page.evaluate("() => { window.__lat = {armed: false}; }")
    fn()
    page.wait_for_timeout(300)
    wait_kernel_idle(page, timeout_s=60)


@dataclass
class ModelResult:
    """Everything measured on one model."""

    controls: dict[str, Series]
    hovers: dict[str, Hovers]
    clicks: Clicks


def run_model(
    browser: Browser,
    base: Path,
    model_code: str,
    measure_all: Callable[[Page, Locator, Locator, Path], T],
    code_root: Path = REPO,
) -> T:
    """One JupyterLab (fresh state) and one explorer on the package in ``code_root``:
    ``measure_all(page, explorer, feature-map img, timings file)``."""
    base.mkdir()
    timings = base / "timings.txt"
    timings.write_text("")
    name = write_notebook(base, "latency", model_code, timings)
    with jupyter_lab(base, base / ".state", code_root=code_root) as server:
        context, page = new_page(browser, ConsoleLog())  # loopback only, like the tests
        try:
            open_notebook(page, server.url, name)
            run_all_cells(page, timeout_s=300)
            ex = _explorer(page)
            open_tab(ex, "Feature maps")
            img = shown_image(visible_panel(ex))
            img.wait_for(state="visible", timeout=60_000)
            img.evaluate(_INSTALL_JS)
            return measure_all(page, ex, img, timings)
        except Exception:
            _save_failure(page, server, base.name)
            raise
        finally:
            context.close()


def _explorer(page: Page) -> Locator:
    """The explorer's view, once rendered; if it never is, fail with what the output shows."""
    ex = notebook(page).locator(".featviz-explorer").first
    try:
        ex.wait_for(state="visible", timeout=60_000)
    except PlaywrightTimeout:
        outputs = notebook(page).locator(".jp-OutputArea").all_inner_texts()
        raise RuntimeError(
            "the explorer never rendered; the cell output shows: "
            + (" | ".join(t.strip() for t in outputs if t.strip()) or "nothing")[-2000:]
        ) from None
    return ex


def _save_failure(page: Page, server: Server, name: str) -> None:
    """Keep a screenshot, the notebook's text and the server log of a failed run.

    They go to tests/e2e/screenshots/ (git-ignored, like the tests' screenshots).
    """
    out = REPO / "tests" / "e2e" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"latency-{name}"
    stem.with_suffix(".log").write_text(server.log_tail(20_000))  # kernel deaths show up here
    try:
        page.screenshot(path=str(stem.with_suffix(".png")), full_page=True)
        stem.with_suffix(".txt").write_text(notebook(page).inner_text(timeout=5_000))
    except Exception as error:  # the page may be gone; the original error matters more
        print(f"could not save the page of {name}: {error}", file=sys.stderr)
    print(f"failure saved: {stem.relative_to(REPO)}.(png|txt|log)", file=sys.stderr)


def _measure_all(page: Page, ex: Locator, img: Locator, timings: Path, n: int) -> ModelResult:
    """Hovers and clicks on a fresh grid (the layer the controls' grid width runs on), controls."""
    layer = control(ex, "dropdown", "Layer").locator("select")
    layers = layer.evaluate("s => [...s.options].map(o => o.value)")
    _quiet(page, lambda: layer.select_option(layers[len(layers) // 4]))
    panel = visible_panel(ex)
    hovers = measure_hovers(page, panel, img, n, WARMUP)
    channel = control(ex, "dropdown", "Channel").locator("select")

    def back_to_grid() -> None:  # as a user would: Escape on the picture
        _quiet(page, lambda: page.keyboard.press("Escape"))
        if channel.evaluate("s => s.selectedIndex") != 0:
            raise RuntimeError("Escape did not bring the grid back")

    clicks = measure_clicks(
        page, panel, img, back_to_grid, lambda act: timed_change(page, timings, act), n, WARMUP
    )
    return ModelResult(_measure_controls(page, ex, timings, n), hovers, clicks)


def _measure_controls(page: Page, ex: Locator, timings: Path, n: int) -> dict[str, Series]:
    layer = control(ex, "dropdown", "Layer").locator("select")
    channel = control(ex, "dropdown", "Channel").locator("select")
    norm = control(ex, "dropdown", "Normalize").locator("select")
    handle = control(ex, "slider", "Grid width").locator(".noUi-handle").first
    layers = layer.evaluate("s => [...s.options].map(o => o.value)")
    # Evenly spread over the network, each different from the one before.
    picks = [layers[1 + (i * (len(layers) - 2)) // (WARMUP + n - 1)] for i in range(WARMUP + n)]
    out = {"layer": measure(page, timings, lambda i: layer.select_option(picks[i]), n)}
    _quiet(page, lambda: layer.select_option(layers[len(layers) // 4]))
    handle.focus()
    out["grid width"] = measure(page, timings, lambda i: handle.press("ArrowRight"), n)
    norms = norm.evaluate("s => [...s.options].map(o => o.value)")
    start = norms.index(norm.input_value())
    out["normalization"] = measure(
        page, timings, lambda i: norm.select_option(norms[(start + 1 + i) % len(norms)]), n
    )
    count = channel.evaluate("s => s.options.length") - 2  # after "grid" and "sum"
    out["channel"] = measure(page, timings, lambda i: channel.select_option(index=2 + i % count), n)
    return out


def table(
    results: dict[str, dict[str, Series]], baseline: dict[str, dict[str, Series]]
) -> list[str]:
    head = (
        "| model | control | changes | browser median ms | browser p95 ms | python median ms "
        "| python p95 ms | baseline median ms | baseline python ms | target met |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for model, per_control in results.items():
        for name in CONTROLS:
            s = per_control[name]
            bmed, b95 = stats(s.browser_ms)
            pmed, p95 = stats(s.python_ms)
            old = baseline.get(model, {}).get(name, Series())
            before, before_python = stats(old.browser_ms)[0], stats(old.python_ms)[0]
            ok = bmed <= TARGET_MEDIAN_MS and b95 <= TARGET_P95_MS and not s.missed
            ok = ok and not bmed > before * BASELINE_SLACK  # NaN baseline: no comparison
            missed = f" ({s.missed} missed)" if s.missed else ""
            lines.append(
                f"| {model} | {name} | {len(s.browser_ms)}{missed} | {bmed:.0f} | {b95:.0f} "
                f"| {pmed:.0f} | {p95:.0f} | {before:.0f} | {before_python:.0f} "
                f"| {'yes' if ok else 'NO'} |"
            )
    return lines


def report(
    results: dict[str, ModelResult], baseline: dict[str, dict[str, Series]], rev: str
) -> list[str]:
    """The three tables (hover, click, controls) with the words that say what they measure."""
    hovers = hover_table({model: r.hovers for model, r in results.items()})
    clicks = click_table({model: r.clicks for model, r in results.items()})
    controls = table({model: r.controls for model, r in results.items()}, baseline)
    return [
        "Hover: pointer move onto a grid tile (`pointermove` timestamp) to the tooltip painted with",
        "the tile's channel, mean and max (the frame after the DOM change), and to the value under",
        "the pointer shown: `local` reads it from a float16 copy of the picture's values fetched",
        "once per picture on the first hover (its cost is the 'first hover' column; the first two",
        "hovers are warm-up), `kernel` asks the kernel on every move. Target: p95 <= 50 ms.",
        "",
        *hovers,
        "",
        "Click: a click on a grid tile (`mousedown`) to that channel's own picture decoded and",
        "painted; python ms is the kernel's `_render` for it. Escape (unmeasured) brings the grid",
        "back between clicks. Target: median <= 100 ms.",
        "",
        *clicks,
        "",
        "Controls: input event to the new feature-map `<img>` decoded and painted. Python ms: the",
        "explorer's `_fill_channels` + `_render` in the kernel for that change, PNG cache cleared",
        "(every change renders afresh). Baseline: the same, measured in the same run on the",
        f"package as of commit {rev} (plain ipywidgets Image, before the interactive picture;",
        "each model's baseline lab runs just before its current one). Targets: median <=",
        f"{TARGET_MEDIAN_MS:.0f} ms, p95 <= {TARGET_P95_MS:.0f} ms, and the median no slower than",
        f"the baseline's (up to {BASELINE_SLACK:.2f}x for noise).",
        "",
        *controls,
    ]


def write_results(lines: list[str], machine: str) -> None:
    body = [
        SECTION,
        "",
        f"Measured {dt.date.today().isoformat()} by `benchmarks/browser_latency.py` on {machine};",
        "headless chromium, JupyterLab on loopback, the explorer's feature-map grid of one layer.",
        "",
        *lines,
        "",
    ]
    replace_section("\n".join(body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20, help="measured changes per control")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    parser.add_argument(
        "--baseline", default=BASELINE_REV, help="commit whose package the controls are compared to"
    )
    args = parser.parse_args()
    os.environ.setdefault("TORCH_HOME", str(REPO / ".torch_home"))
    from playwright.sync_api import sync_playwright

    results: dict[str, ModelResult] = {}
    baseline: dict[str, dict[str, Series]] = {}
    n = args.changes
    with tempfile.TemporaryDirectory(prefix="fv-latency-") as tmp, sync_playwright() as pw:
        old_tree = package_at(args.baseline, Path(tmp) / "baseline")
        browser = launch_browser(pw)
        try:
            for i, (label, code) in enumerate(MODELS.items()):
                baseline[label] = run_model(
                    browser, Path(tmp) / f"baseline{i}", code,
                    lambda page, ex, _img, timings: _measure_controls(page, ex, timings, n),
                    code_root=old_tree,
                )  # fmt: skip
                results[label] = run_model(
                    browser, Path(tmp) / f"model{i}", code,
                    lambda page, ex, img, timings: _measure_all(page, ex, img, timings, n),
                )  # fmt: skip
            load = os.getloadavg()[0]  # other work on the machine inflates every figure
            machine = (
                f"{platform.machine()}, {os.cpu_count()} CPU cores (1-min load {load:.1f} at the "
                f"end), chromium {browser.version}, Python {platform.python_version()}"
            )
        finally:
            browser.close()
    lines = report(results, baseline, args.baseline)
    print("\n".join(lines))
    if not args.no_write:
        write_results(lines, machine)
        print(f"updated {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
