"""Python-side latency of LayerExplorer interactions on ResNet-50 (random weights) at 224.

Measures, after a warm-up:
- construction: ``LayerExplorer(model, img)`` until the first grid PNG exists (model built before);
- each interaction (layer, channel, grid width, normalization): the time of the trait assignment
  that a browser change triggers, which includes the redraw and PNG encoding. Every timed change
  draws a view not drawn before (no cache hits), median and p95 over 20 changes.

Then, per model in ``SCALE`` (ResNet-50 at 224 and 512, EfficientNet-B7, ViT-L/16, ConvNeXt-Base),
each in a fresh child process so its peak RSS is its own, side by side with plain forwards of the
same model on the same input in the same process:
- first picture: constructor call to the first PNG, against ``1.5 x forward + 0.2 s``;
- peak RSS over the model's own baseline (the model built and run once), against the budget;
- layer change that must recapture (the budget set to 1 byte, so every layer is evicted the
  moment another is shown): median against ``1.2 x forward``.

Then ``torch.compile(resnet18)`` beside the same eager ResNet-18 in one process: layer changes
that recapture (1-byte budget), interleaved, against ``1.5 x`` the eager model's (the explorer
runs the network inside the compiled wrapper, so hooks never trigger a recompile).

Prints tables and replaces the "## Explorer" section of benchmarks/RESULTS.md.
Run: ``.venv/bin/python benchmarks/explorer.py`` (``--compiled``: the compiled-model table only).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path

import torch
import torchvision
from _results import replace_section
from skimage import data as skdata

from featviz_widgets.engine import memory_budget, memory_in_use, set_memory_budget
from featviz_widgets.inputs import prepare_image
from featviz_widgets.widgets import LayerExplorer

RESULTS = Path(__file__).with_name("RESULTS.md")
SCALE = [
    ("resnet50", 224), ("resnet50", 512), ("efficientnet_b7", 224), ("vit_l_16", 224),
    ("convnext_base", 224),
]  # fmt: skip
RECAPTURES = 8
CHANGES = 20
TARGET_MS = 30.0
TARGET_FIRST_S = 1.5


def _ms(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def _construction(model: torch.nn.Module, img, repeats: int = 7) -> dict[str, list[float]]:
    """Seconds from the constructor call to the first PNG, each paired with a plain forward.

    The first construction (imports, first capture) is "cold". Every warm construction runs right
    after one plain ``model(x)`` at 224, the cost no construction can avoid, so the paired
    difference is the explorer's own overhead even on a busy machine.
    """
    x = torch.randn(1, 3, 224, 224)
    times: dict[str, list[float]] = {"cold": [], "warm": [], "forward": [], "overhead": []}
    for i in range(repeats + 1):
        with torch.no_grad():
            start = time.perf_counter()
            model(x)
            forward = time.perf_counter() - start
        start = time.perf_counter()
        ex = LayerExplorer(model, img)
        if not ex.tab_object("maps").image.value:
            raise RuntimeError("no first image")
        seconds = time.perf_counter() - start
        ex.close()
        if i == 0:
            times["cold"].append(seconds)
            continue
        times["warm"].append(seconds)
        times["forward"].append(forward)
        times["overhead"].append(seconds - forward)
    return times


def _activation_mb(ex: LayerExplorer) -> float:
    """Memory the explorers keep under the shared budget after the interactions."""
    return memory_in_use() / 2**20


def _interactions(ex: LayerExplorer) -> dict[str, list[float]]:
    convs = ex.layers
    step = max(1, len(convs) // CHANGES)
    layers = convs[::step][:CHANGES]
    timings: dict[str, list[float]] = {
        k: [] for k in ("layer", "channel", "columns", "normalization")
    }
    for key in layers:  # first visit of each layer: view, stats, options and grid all fresh
        timings["layer"].append(_ms(lambda key=key: setattr(ex, "layer", key)))
    ex.layer = "layer2.0.conv2"  # 128 x 28 x 28
    for c in range(CHANGES):
        timings["channel"].append(_ms(lambda c=c: setattr(ex, "channel", c)))
    ex.channel = None
    for i in range(CHANGES):  # a new layer before each change: the grid is never cached
        ex.layer, ex.columns = layers[i], 8
        cols = 4 + i
        timings["columns"].append(_ms(lambda cols=cols: setattr(ex, "columns", cols)))
    norms = ["layer", "meanstd", "percentile", "signed"]
    for i in range(CHANGES):
        ex.layer, ex.normalization = layers[i], "channel"
        mode = norms[i % len(norms)]
        timings["normalization"].append(_ms(lambda mode=mode: setattr(ex, "normalization", mode)))
    return timings


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _row(name: str, values: list[float], unit: str, target: float | None) -> str:
    scale = 1000.0 if unit == "ms" else 1.0
    med, p95 = statistics.median(values) * scale, _p95(values) * scale
    fmt = ".1f" if unit == "ms" else ".2f"
    if target is None:
        return f"| {name} | {med:{fmt}} {unit} | {p95:{fmt}} {unit} | | |"
    ok = "yes" if med <= target else "NO"
    return f"| {name} | {med:{fmt}} {unit} | {p95:{fmt}} {unit} | <= {target:g} {unit} | {ok} |"


def _table(build: dict[str, list[float]], mb: float, timings: dict[str, list[float]]) -> str:
    n = len(build["warm"])
    lines = [
        "| measurement | median | p95 | target | ok |",
        "|---|---|---|---|---|",
        _row("first image, first construction in the process (cold)", build["cold"], "s", None),
        _row(f"first image, construction ({n} runs)", build["warm"], "s", TARGET_FIRST_S),
        _row("baseline: one plain forward, paired with each run", build["forward"], "s", None),
        _row("explorer overhead (construction - paired forward)", build["overhead"], "s", None),
        f"| activations held after the interactions | {mb:.0f} MiB | | | |",
    ]
    for name, values in timings.items():
        secs = [v / 1000 for v in values]
        lines.append(_row(f"{name} change ({len(values)} changes)", secs, "ms", TARGET_MS))
    return "\n".join(lines)


def _rss_peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _child(name: str, size: int) -> dict[str, float]:
    """One model in this (fresh) process: forwards, first pictures, peak RSS, recaptures."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)().eval()
    img = skdata.chelsea()
    x = prepare_image(img, model, size=size).batch
    forwards = []
    for _ in range(4):
        with torch.no_grad():
            start = time.perf_counter()
            model(x)
            forwards.append(time.perf_counter() - start)
    forward = statistics.median(forwards[1:])
    baseline = _rss_peak()
    firsts = []
    for _ in range(3):
        start = time.perf_counter()
        ex = LayerExplorer(model, img, size=size)
        if not ex.tab_object("maps").image.value:
            raise RuntimeError(f"{name}: no first image")
        firsts.append(time.perf_counter() - start)
        ex.close()
    ex = LayerExplorer(model, img, size=size)
    modules = list(ex.activations)  # every module output; listing them captures nothing
    for key in modules[:: max(1, len(modules) // RECAPTURES)][:RECAPTURES]:
        ex.layer = key  # a user looking around: the budget decides what stays
    peak = _rss_peak() - baseline
    budget = memory_budget()
    set_memory_budget(1)  # every layer is evicted when the next is shown: all recaptures
    keys = modules[1 :: max(1, len(modules) // RECAPTURES)][:RECAPTURES]
    recaptures = [_ms(lambda key=key: setattr(ex, "layer", key)) / 1000 for key in keys]
    set_memory_budget(budget)
    return {
        "forward": forward, "first": statistics.median(firsts), "peak": peak,
        "budget": budget, "recapture": statistics.median(recaptures),
        "recapture_p95": _p95(recaptures),
    }  # fmt: skip


def _scale_table() -> str:
    lines = [
        "| model @ input | plain forward | first picture | target (1.5x fwd + 0.2 s) | "
        "peak RSS over the model's own | budget | layer change with recapture (median / p95) | "
        "target (1.2x fwd) | ok |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, size in SCALE:
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, str(size)],
            capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        if out.returncode:
            raise RuntimeError(f"{name}@{size} failed:\n{out.stderr[-3000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        first_target, recapture_target = 1.5 * r["forward"] + 0.2, 1.2 * r["forward"]
        ok = (
            r["first"] <= first_target and r["peak"] <= r["budget"]
            and r["recapture"] <= recapture_target
        )  # fmt: skip
        lines.append(
            f"| {name} @ {size} | {r['forward']:.2f} s | {r['first']:.2f} s | "
            f"{first_target:.2f} s | {r['peak'] / 2**20:.0f} MiB | {r['budget'] / 2**20:.0f} MiB | "
            f"{r['recapture']:.2f} / {r['recapture_p95']:.2f} s | {recapture_target:.2f} s | "
            f"{'yes' if ok else 'NO'} |"
        )
        print(lines[-1], flush=True)
    return "\n".join(lines)


def _compiled_table() -> str:
    """Layer changes with recapture on ``torch.compile(resnet18)`` and on the eager ResNet-18."""
    torch.manual_seed(0)
    eager = torchvision.models.resnet18().eval()
    twin = torchvision.models.resnet18().eval()
    twin.load_state_dict(eager.state_dict())
    compiled = torch.compile(twin)
    img = skdata.chelsea()
    with warnings.catch_warnings():  # the one-line "explores the ResNet inside" note
        warnings.simplefilter("ignore", UserWarning)
        start = time.perf_counter()
        compiled_ex = LayerExplorer(compiled, img)
        first = time.perf_counter() - start
        explorers = {"eager": LayerExplorer(eager, img), "compiled": compiled_ex}
    keys = list(compiled_ex.activations)
    keys = keys[1 :: max(1, len(keys) // RECAPTURES)][:RECAPTURES]
    budget = memory_budget()
    set_memory_budget(1)  # every change recaptures
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for key in keys:  # interleaved: both see the same machine load
        for label, ex in explorers.items():
            times[label].append(_ms(lambda ex=ex, key=key: setattr(ex, "layer", key)) / 1000)
    set_memory_budget(budget)
    for ex in explorers.values():
        ex.close()
    eager_s, compiled_s = (statistics.median(times[k]) for k in ("eager", "compiled"))
    ok = "yes" if compiled_s <= 1.5 * eager_s else "NO"
    return "\n".join([
        "| resnet18 @ 224 | first picture | layer change with recapture (median / p95) | "
        "ratio to eager | target | ok |",
        "|---|---:|---:|---:|---:|---|",
        f"| eager | | {eager_s:.3f} / {_p95(times['eager']):.3f} s | 1.00 | | |",
        f"| torch.compile | {first:.2f} s | {compiled_s:.3f} / {_p95(times['compiled']):.3f} s "
        f"| {compiled_s / eager_s:.2f} | <= 1.5 | {ok} |",
    ])  # fmt: skip


def _write_section(table: str, scale: str, compiled: str) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs (load average {load} at the end of the run), "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"Python {platform.python_version()}"
    )
    section = (
        "## Explorer\n\n"
        f"`benchmarks/explorer.py`, {date.today().isoformat()}, {machine}. ResNet-50 (random "
        "weights), skimage chelsea at 224. Construction: constructor call to the first grid PNG, "
        "model built before; each run is paired with one plain forward (the floor on this machine "
        "under its current load). Interactions: Python-side time of the trait assignment a "
        "browser change triggers (redraw + PNG encoding included), every timed change drawing an "
        "uncached view.\n\n"
        f"{table}\n\n"
        "Scale: each model in a fresh process with random weights, the chelsea photo at the given "
        "input size, side by side with plain forwards of the same model and input in the same "
        "process (median of 3 after a warm-up). First picture: median of 3 constructions. Peak "
        "RSS: the process's peak after the explorers minus its peak after building and running "
        "the model (targets: <= the budget). Recapture: layer changes with a 1-byte budget, so "
        "every change runs one stop-early forward.\n\n"
        f"{scale}\n\n"
        "Compiled: `torch.compile(resnet18)` beside the eager ResNet-18 with the same weights, in "
        f"one process, {RECAPTURES} layer changes each with a 1-byte budget, interleaved.\n\n"
        f"{compiled}\n"
    )
    replace_section(section)


def main() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet50().eval()
    img = skdata.chelsea()
    build = _construction(model, img)
    ex = LayerExplorer(model, img)
    timings = _interactions(ex)
    table = _table(build, _activation_mb(ex), timings)
    print(table)
    ex.close()
    scale = _scale_table()
    compiled = _compiled_table()
    print(compiled)
    _write_section(table, scale, compiled)
    print(f"\nwrote the Explorer section of {RESULTS}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(_child(sys.argv[2], int(sys.argv[3]))))
    elif sys.argv[1:2] == ["--compiled"]:
        print(_compiled_table())
    else:
        main()
