"""This checkout against an earlier commit, side by side in one run: capture, render, explorer.

A refactor must not make anything a user feels slower. This runs the same measurements on two
copies of ``featviz_widgets``: the working tree and the package as of ``--baseline`` (read with
``git archive``, which changes nothing in the repository). Each measurement runs in a fresh child
process whose ``PYTHONPATH`` picks the tree, and the trees alternate (baseline, current, baseline,
current...) so that a change in the machine's load hits both alike. Reported: the median over
rounds of each tree's per-round median, and the ratio current / baseline (below 1: faster).

Measured, on ResNet-50 with random seeded weights and the chelsea photo at 224:
- capture: ``capture(model, x)`` of every module output (one forward with hooks);
- render: ``render.grid_png`` of the first page of 20 layers (normalize, tile, colour, encode);
- explorer: ``LayerExplorer(model, img)`` to the first grid PNG, then Python-side time of a layer,
  channel, grid width and normalization change (each drawing a view not drawn before).

Prints a table and replaces the "## Side by side with the previous commit" section of
benchmarks/RESULTS.md. Usage: ``python benchmarks/versions.py [--baseline REV] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from _latency_notebook import package_at
from _results import replace_section

SECTION = "## Side by side with the previous commit"
REPO = Path(__file__).resolve().parents[1]
CHANGES = 12


def _ms(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def _feature_maps(ex):
    """The Feature maps tab, reached the way each version of the explorer offers it."""
    return ex.tab_object("maps")


def child() -> dict[str, float]:
    """Every measurement on the ``featviz_widgets`` that this process imports."""
    import torch
    import torchvision
    from skimage import data

    from featviz_widgets import render
    from featviz_widgets.engine import capture
    from featviz_widgets.inputs import prepare_image
    from featviz_widgets.widgets import LayerExplorer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torchvision.models.resnet50().eval()
    img = data.chelsea()
    x = prepare_image(img, model).batch
    capture(model, x)  # warm-up
    out: dict[str, float] = {}
    out["capture every module output, ms"] = statistics.median(
        _ms(lambda: capture(model, x)) for _ in range(5)
    )
    acts = {k: t[0].numpy() for k, t in capture(model, x).items() if t.ndim == 4}
    layers = list(acts)[:: max(1, len(acts) // 20)][:20]
    render.grid_png(acts[layers[0]][:128], 8, cmap="viridis")  # warm-up
    out["render one grid page, ms (median of 20 layers)"] = statistics.median(
        statistics.median(_ms(lambda k=k: render.grid_png(acts[k][:128], 8, cmap="viridis"))
                          for _ in range(3))
        for k in layers
    )  # fmt: skip
    firsts = []
    for _ in range(4):
        start = time.perf_counter()
        ex = LayerExplorer(model, img)
        if not _feature_maps(ex).image.value:
            raise RuntimeError("no first picture")
        firsts.append((time.perf_counter() - start) * 1000)
        ex.close()
    out["explorer: first picture, ms"] = statistics.median(firsts[1:])
    ex = LayerExplorer(model, img)
    convs = ex.layers[:: max(1, len(ex.layers) // CHANGES)][:CHANGES]
    out["explorer: layer change, ms"] = statistics.median(
        _ms(lambda k=k: setattr(ex, "layer", k)) for k in convs
    )
    ex.layer = "layer2.0.conv2"
    out["explorer: channel change, ms"] = statistics.median(
        _ms(lambda c=c: setattr(ex, "channel", c)) for c in range(CHANGES)
    )
    ex.channel = None
    columns, norms = [], ["layer", "meanstd", "percentile", "signed"]
    normalizations = []
    for i, key in enumerate(convs):
        ex.layer, ex.columns, ex.normalization = key, 8, "channel"
        columns.append(_ms(lambda i=i: setattr(ex, "columns", 4 + i)))
        normalizations.append(_ms(lambda i=i: setattr(ex, "normalization", norms[i % 4])))
    out["explorer: grid width change, ms"] = statistics.median(columns)
    out["explorer: normalization change, ms"] = statistics.median(normalizations)
    ex.close()
    return out


def _run(tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child"], capture_output=True, text=True, env=env,
        cwd=tree, timeout=1800,
    )  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"the child on {tree} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(base: list[dict], head: list[dict], rev: str) -> str:
    lines = [
        f"| measurement | baseline {rev} | this checkout | ratio (this / baseline) |",
        "|---|---:|---:|---:|",
    ]
    for name in base[0]:
        old = statistics.median(r[name] for r in base)
        new = statistics.median(r[name] for r in head)
        lines.append(f"| {name} | {old:.1f} | {new:.1f} | {new / old:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD~1", help="commit to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    rev = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", args.baseline],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    base, head = [], []
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = package_at(rev, Path(tmp) / "baseline")
        for i in range(args.rounds):
            base.append(_run(old_tree))
            head.append(_run(REPO))
            print(f"round {i + 1}/{args.rounds} done", flush=True)
    table = _table(base, head, rev)
    print(table)
    if args.no_write:
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    replace_section(
        f"{SECTION}\n\n`benchmarks/versions.py`, {date.today().isoformat()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs (load average {load} at the end), Python "
        f"{platform.python_version()}, one torch thread. ResNet-50 (random seeded weights), the "
        f"chelsea photo at 224. Each tree runs in a fresh process, {args.rounds} rounds "
        "alternating baseline and this checkout; each figure is the median over rounds of a "
        "round's median. Ratios within about 0.85-1.15 are the noise of this shared machine.\n\n"
        f"{table}\n"
    )
    print(f"\nwrote '{SECTION}' in benchmarks/RESULTS.md")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child()))
    else:
        main()
