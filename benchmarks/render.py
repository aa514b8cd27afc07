"""Render benchmark: every 4-D layer of ResNet-50 at 224, our grid path next to the tutorial path.

Ours:   render.grid_png(acts, cols, count=page, norm="channel", cmap)  (normalize + tile + colormap + PNG)
        and to_png(grid(...)) (the RGB array path) for reference.
Tutorial path: the loop tiling of the PyTorch hook tutorials (per-channel min-max, one np.hstack per
        map, one np.vstack per row) + a matplotlib figure with imshow(cmap), savefig to PNG in a BytesIO
        (Agg backend), the figure sized to the same pixels as our grid (figsize = pixels / dpi).
Activations come from featviz_widgets.engine (random seeded weights; chelsea photo). The view is the
explorer's default: per-channel min-max, viridis, 8 columns, first page of 128 channels.

Run: .venv/bin/python benchmarks/render.py [--repeats N] [--tutorial-repeats N]
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import platform
import re
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the baseline needs figures; the library never does)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from _results import replace_section  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402

from featviz_widgets import render  # noqa: E402
from featviz_widgets._text import shape_label  # noqa: E402
from featviz_widgets.engine import capture  # noqa: E402
from featviz_widgets.inputs import normalization  # noqa: E402

COLS, PAGE, CMAP, NORM = 8, 128, "viridis", "channel"


def resnet50_activations() -> dict[str, np.ndarray]:
    torch.manual_seed(0)
    model = torchvision.models.resnet50().eval()
    photo = np.asarray(Image.fromarray(data.chelsea()).resize((224, 224)), dtype=np.float32) / 255
    x = torch.from_numpy(photo).permute(2, 0, 1)[None]
    mean, std = (torch.tensor(v)[:, None, None] for v in normalization(None))
    acts = capture(model, (x - mean) / std)
    return {name: t[0].numpy() for name, t in acts.items() if t.ndim == 4}


def loop_grid_gray_image(imgs: np.ndarray, each_row: int) -> np.ndarray:
    """The hook tutorials' loop tiling: min-max each map, hstack a row, vstack the rows."""
    row_num = imgs.shape[0] // each_row
    for i in range(row_num):
        img = imgs[i * each_row]
        img = (img - img.min()) / (img.max() - img.min())
        for j in range(1, each_row):
            tmp_img = imgs[i * each_row + j]
            tmp_img = (tmp_img - tmp_img.min()) / (tmp_img.max() - tmp_img.min())
            img = np.hstack((img, tmp_img))
        ans = img if i == 0 else np.vstack((ans, img))  # noqa: F821
    return ans


def tutorial_path(acts: np.ndarray, width: int, height: int) -> bytes:
    with np.errstate(all="ignore"):  # the recipe divides by zero on constant (dead ReLU) channels
        tiled = loop_grid_gray_image(acts[:PAGE], COLS)
    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(tiled, cmap=CMAP, interpolation="nearest", aspect="auto")
    ax.axis("off")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def ours_palette(acts: np.ndarray) -> bytes:
    return render.grid_png(acts, COLS, count=PAGE, norm=NORM, cmap=CMAP)


def ours_rgb(acts: np.ndarray) -> bytes:
    return render.to_png(render.grid(acts, COLS, count=PAGE, norm=NORM, cmap=CMAP))


def median_ms(fn, arg, repeats: int) -> tuple[float, int, float]:
    size = len(fn(*arg))  # warm-up (and the PNG size)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*arg)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, size, min(times) * 1e3


def measure(acts: dict[str, np.ndarray], repeats: int, tutorial_repeats: int) -> list[dict]:
    rows = []
    for name, a in acts.items():
        layout = render.grid_layout(*a.shape, COLS, count=PAGE)
        palette_ms, palette_bytes, palette_min = median_ms(ours_palette, (a,), repeats)
        rgb_ms, _, _ = median_ms(ours_rgb, (a,), repeats)
        pixels = (a, layout.width, layout.height)
        tutorial_ms, tutorial_bytes, tutorial_min = median_ms(
            tutorial_path, pixels, tutorial_repeats
        )
        rows.append(
            {
                "layer": name,
                "shape": shape_label(a.shape),
                "size": f"{layout.width}x{layout.height}",
                "palette_ms": palette_ms,
                "palette_min": palette_min,
                "rgb_ms": rgb_ms,
                "tutorial_ms": tutorial_ms,
                "tutorial_min": tutorial_min,
                "palette_kb": palette_bytes / 1024,
                "tutorial_kb": tutorial_bytes / 1024,
            }
        )
    return rows


def summary(rows: list[dict]) -> dict:
    col = {key: [r[key] for r in rows] for key in rows[0] if key.endswith(("_ms", "_min", "_kb"))}
    med = {key: statistics.median(values) for key, values in col.items()}
    worst = max(rows, key=lambda r: r["palette_ms"])
    return {
        "layers": len(rows),
        "median": med["palette_ms"],
        "worst": worst["palette_ms"],
        "worst_layer": worst["layer"],
        "best_median": med["palette_min"],
        "best_worst": max(col["palette_min"]),
        "rgb_median": med["rgb_ms"],
        "rgb_worst": max(col["rgb_ms"]),
        "tutorial_median": med["tutorial_ms"],
        "tutorial_worst": max(col["tutorial_ms"]),
        "tutorial_best_median": med["tutorial_min"],
        "ratio": med["tutorial_ms"] / med["palette_ms"],
        "ratio_best": med["tutorial_min"] / med["palette_min"],
        "ratio_rgb": med["tutorial_ms"] / med["rgb_ms"],
        "png_kb": med["palette_kb"],
        "max_png_kb": max(col["palette_kb"]),
        "tutorial_kb": med["tutorial_kb"],
    }


def table(rows: list[dict]) -> str:
    head = "| layer | C x H x W | image | ours palette PNG ms | ours RGB PNG ms | tutorial mpl ms | ratio | PNG KiB (ours / mpl) |"
    lines = [head, "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {r['shape']} | {r['size']} | {r['palette_ms']:.1f} | {r['rgb_ms']:.1f} | "
            f"{r['tutorial_ms']:.0f} | {r['tutorial_ms'] / r['palette_ms']:.0f}x | {r['palette_kb']:.0f} / {r['tutorial_kb']:.0f} |"
        )
    return "\n".join(lines)


def _cpu() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    names = re.findall(r"model name\s*:\s*(.+)", cpuinfo.read_text()) if cpuinfo.exists() else []
    return names[0].strip() if names else platform.machine()


def section(rows: list[dict], s: dict[str, float]) -> str:
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    return f"""## Render

`benchmarks/render.py`, {datetime.date.today()}, {_cpu()}, {os.cpu_count()} cores
shared with other engineers' jobs while it ran: absolute timings are noisy, the ratios are what matters.
Every 4-D layer of ResNet-50 at 224 ({s["layers"]} layers: conv, bn, relu, maxpool, bottlenecks, captured by
`featviz_widgets.engine`, random seeded weights, chelsea photo). View: the explorer's default, per-channel
min-max, viridis, {COLS} columns, first page of {PAGE} channels (small maps upscaled to >= 32 px tiles).
Ours = `render.grid_png` (normalize + tile + colormap as the PNG palette + encode, compress_level=1);
"RGB" = `to_png(render.grid(...))`; tutorial path = loop tiling (np.hstack / np.vstack) + matplotlib figure/imshow/savefig
(Agg, figure sized to the same pixels), measured in the same run. Medians over repeats per layer.

| | ours (grid_png) | ours (to_png(grid)) | tutorial matplotlib path |
|---|---:|---:|---:|
| median over layers | {s["median"]:.1f} ms | {s["rgb_median"]:.1f} ms | {s["tutorial_median"]:.0f} ms |
| worst layer | {s["worst"]:.1f} ms ({s["worst_layer"]}) | {s["rgb_worst"]:.1f} ms | {s["tutorial_worst"]:.0f} ms |
| speed-up at the median | {s["ratio"]:.0f}x | {s["ratio_rgb"]:.0f}x | 1x |
| per-layer best runs (least contention): median / worst | {s["best_median"]:.1f} ms ({s["ratio_best"]:.0f}x) / {s["best_worst"]:.1f} ms | | {s["tutorial_best_median"]:.0f} ms |
| PNG size, median (max) | {s["png_kb"]:.0f} KiB ({s["max_png_kb"]:.0f} KiB) | | {s["tutorial_kb"]:.0f} KiB |

Targets: median <= 15 ms: {verdict(s["median"] <= 15)}; worst layer <= 40 ms: {verdict(s["worst"] <= 40)};
>= 10x faster than matplotlib at the median: {verdict(s["ratio"] >= 10)}.

<details><summary>Per layer</summary>

{table(rows)}

</details>
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--tutorial-repeats", type=int, default=3)
    args = parser.parse_args()
    acts = resnet50_activations()
    rows = measure(acts, args.repeats, args.tutorial_repeats)
    print(table(rows))
    s = summary(rows)
    print(
        f"\nmedian {s['median']:.1f} ms (RGB {s['rgb_median']:.1f}), worst {s['worst']:.1f} ms "
        f"({s['worst_layer']}), tutorial median {s['tutorial_median']:.0f} ms, ratio {s['ratio']:.0f}x"
    )
    replace_section(section(rows, s))


if __name__ == "__main__":
    main()
