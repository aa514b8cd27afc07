"""Latency a user feels in JupyterLab: from a control change to the new feature-map image painted.

For MobileNetV2 (ImageNet weights, offline) and ResNet-50 (random weights) this starts JupyterLab
on loopback, runs a generated notebook holding one ``LayerExplorer`` in headless Debian chromium,
and changes each control (layer, channel, grid width, normalization) at least 20 times:

* browser ms: ``performance.now()`` at the input event (capture-phase listener on ``document``) to
  the frame after the new ``<img src>`` decoded (MutationObserver -> ``img.decode()`` ->
  ``requestAnimationFrame`` -> ``setTimeout 0``, i.e. after that frame was painted);
* python ms: in the kernel, the time spent in the explorer's ``_fill_channels`` + ``_render`` for
  that change (wrapped by the generated notebook; the feature-map PNG cache is cleared before each
  render so every change pays for a fresh render, the worst case).

Prints a table and writes the "## Browser latency" section of benchmarks/RESULTS.md.
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
from typing import TYPE_CHECKING

import numpy as np
from playwright.sync_api import TimeoutError as PlaywrightTimeout

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

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
TARGET_MEDIAN_MS, TARGET_P95_MS = 150.0, 300.0
WARMUP = 2
CONTROLS = ("layer", "channel", "grid width", "normalization")

MODELS = {
    "MobileNetV2 (ImageNet weights)": (
        "from torchvision.models import MobileNet_V2_Weights, mobilenet_v2\n"
        "weights = MobileNet_V2_Weights.IMAGENET1K_V1\n"
        "model = mobilenet_v2(weights=weights).eval()\n"
    ),
    "ResNet-50 (random weights)": (
        "from torchvision.models import resnet50\n"
        "torch.manual_seed(0)\n"
        "weights = None\n"
        "model = resnet50(weights=None).eval()\n"
    ),
}

# The kernel side: build the explorer, and log how long each change spends in Python.
_SETUP = """\
import time
import skimage.data
import torch
from featviz_widgets.widgets import LayerExplorer
{model}
explorer = LayerExplorer(model, skimage.data.chelsea(), weights=weights)
TIMINGS = {timings!r}


def _timed(method):
    def run(*args, **kwargs):
        if method.__name__ == "_render":
            explorer.tabs["Feature maps"].clear_cache()  # measure fresh renders, not cache hits
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            with open(TIMINGS, "a") as log:
                log.write(f"{{(time.perf_counter() - start) * 1000:.3f}}\\n")
    return run


explorer._fill_channels = _timed(explorer._fill_channels)
explorer._render = _timed(explorer._render)
explorer
"""

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


def write_notebook(folder: Path, name: str, model_code: str, timings: Path) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(_SETUP.format(model=model_code, timings=str(timings)))]
    filename = f"{name}.ipynb"
    nbformat.write(nb, folder / filename)
    return filename


def _python_ms(timings: Path, seen: int, page: Page) -> tuple[float, int]:
    """Kernel time logged since line ``seen`` (waits for the kernel to finish the change)."""
    wait_kernel_idle(page, timeout_s=30)
    lines = timings.read_text().split()
    if len(lines) == seen:
        # The picture changed but no wrapped method ran: the explorer's internals moved on.
        raise RuntimeError("the kernel logged no _render/_fill_channels call for this change")
    return sum(float(x) for x in lines[seen:]), len(lines)


def measure(page: Page, timings: Path, action: Callable[[int], None], n: int) -> Series:
    """Run ``action(i)`` for WARMUP + n changes; time the measured ones."""
    series, seen = Series(), len(timings.read_text().split())
    for i in range(WARMUP + n):
        page.evaluate("() => { window.__lat = {armed: true}; }")
        action(i)
        try:
            page.wait_for_function("() => window.__lat.t1 !== undefined", timeout=15_000)
        except PlaywrightTimeout:  # no new picture: counted as missed, not fatal
            series.missed += i >= WARMUP
            wait_kernel_idle(page, timeout_s=30)
            seen = len(timings.read_text().split())
            continue
        lat = page.evaluate("() => window.__lat.t1 - window.__lat.t0")
        python, seen = _python_ms(timings, seen, page)
        if i >= WARMUP:
            series.browser_ms.append(lat)
            series.python_ms.append(python)
    return series


def _quiet(page: Page, fn: Callable[[], object]) -> None:
    """An unmeasured change: disarm, do it, let the kernel settle."""
    page.evaluate("() => { window.__lat = {armed: false}; }")
    fn()
    page.wait_for_timeout(300)
    wait_kernel_idle(page, timeout_s=60)


def run_model(browser: Browser, base: Path, model_code: str, n: int) -> dict[str, Series]:
    """One JupyterLab (fresh state) and one explorer: measure every control."""
    base.mkdir()
    timings = base / "timings.txt"
    timings.write_text("")
    name = write_notebook(base, "latency", model_code, timings)
    with jupyter_lab(base, base / ".state") as server:
        context, page = new_page(browser, ConsoleLog())  # loopback only, like the tests
        try:
            open_notebook(page, server.url, name)
            run_all_cells(page, timeout_s=300)
            ex = _explorer(page)
            open_tab(ex, "Feature maps")
            img = shown_image(visible_panel(ex))
            img.wait_for(state="visible", timeout=60_000)
            img.evaluate(_INSTALL_JS)
            return _measure_controls(page, ex, timings, n)
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


def _stats(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return float(np.median(values)), float(np.percentile(values, 95))


def table(results: dict[str, dict[str, Series]]) -> list[str]:
    head = (
        "| model | control | changes | browser median ms | browser p95 ms | python median ms "
        "| python p95 ms | target met |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|:---:|"]
    for model, per_control in results.items():
        for name in CONTROLS:
            s = per_control[name]
            bmed, b95 = _stats(s.browser_ms)
            pmed, p95 = _stats(s.python_ms)
            ok = bmed <= TARGET_MEDIAN_MS and b95 <= TARGET_P95_MS and not s.missed
            missed = f" ({s.missed} missed)" if s.missed else ""
            lines.append(
                f"| {model} | {name} | {len(s.browser_ms)}{missed} | {bmed:.0f} | {b95:.0f} "
                f"| {pmed:.0f} | {p95:.0f} | {'yes' if ok else 'NO'} |"
            )
    return lines


def write_results(lines: list[str], machine: str) -> None:
    body = [
        SECTION,
        "",
        f"Measured {dt.date.today().isoformat()} by `benchmarks/browser_latency.py` on {machine}.",
        "Browser ms: input event to the new feature-map `<img>` decoded and painted (headless",
        "chromium, JupyterLab on loopback). Python ms: the explorer's `_fill_channels` + `_render`",
        "in the kernel for that change, PNG cache cleared (every change renders afresh).",
        f"Targets: median <= {TARGET_MEDIAN_MS:.0f} ms and p95 <= {TARGET_P95_MS:.0f} ms.",
        "",
        *lines,
        "",
    ]
    replace_section("\n".join(body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20, help="measured changes per control")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()
    os.environ.setdefault("TORCH_HOME", str(REPO / ".torch_home"))
    from playwright.sync_api import sync_playwright

    results: dict[str, dict[str, Series]] = {}
    with tempfile.TemporaryDirectory(prefix="fv-latency-") as tmp, sync_playwright() as pw:
        browser = launch_browser(pw)
        try:
            for label, code in MODELS.items():
                folder = Path(tmp) / f"model{len(results)}"
                results[label] = run_model(browser, folder, code, args.changes)
            load = os.getloadavg()[0]  # other work on the machine inflates every figure
            machine = (
                f"{platform.machine()}, {os.cpu_count()} CPU cores (1-min load {load:.1f} at the "
                f"end), chromium {browser.version}, Python {platform.python_version()}"
            )
        finally:
            browser.close()
    lines = table(results)
    print("\n".join(lines))
    if not args.no_write:
        write_results(lines, machine)
        print(f"updated {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
