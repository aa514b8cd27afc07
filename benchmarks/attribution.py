"""Attribution benchmark: ours next to the reference libraries, ResNet-50, one run.

- Grad-CAM on ``layer4`` for one class: ``engine.attribution_maps`` vs pytorch-grad-cam's ``GradCAM``
  (``target_layers=[model.layer4[-1]]``, the same tensor);
- ScoreCAM on ``layer4`` (2048 masked images per map), 32 masked images per forward in both:
  ours vs pytorch-grad-cam's batched ``ScoreCAM`` (``batch_size = 32``);
- Integrated Gradients, 32 steps, internal batch 16, baseline 0: ours vs Captum's
  ``IntegratedGradients`` called directly on the model (``target=class``).

Each pair runs alternately (ours first, then the reference first, ...) after a warm-up; medians of the wall times,
and the peak memory each call adds (CUDA: ``max_memory_allocated``; CPU: the process's resident
memory sampled every millisecond, above what it held before the call). Random seeded weights,
skimage's coffee photo. ScoreCAM's image side is an option: on a CPU, 2048 ResNet-50 forwards
at 224 take minutes per map.

Run: .venv/bin/python benchmarks/attribution.py [--repeats N] [--scorecam-size PX] [--device cuda]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's ScoreCAM shows a progress bar

import torch  # noqa: E402
import torchvision  # noqa: E402
from _results import replace_section  # noqa: E402
from captum.attr import IntegratedGradients  # noqa: E402
from pytorch_grad_cam import GradCAM, ScoreCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402
from skimage import data  # noqa: E402

from featviz_widgets.engine import attribution_maps  # noqa: E402
from featviz_widgets.inputs import prepare_image  # noqa: E402

CLASS = 967  # espresso
STEPS, IG_BATCH, SCORECAM_BATCH = 32, 16, 32


def _rss() -> int:
    """The process's resident memory in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measured(call: Callable[[], object], device: torch.device) -> tuple[float, float]:
    """(seconds, peak MiB added) of one call."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        start = time.perf_counter()
        call()
        torch.cuda.synchronize()
        return time.perf_counter() - start, (torch.cuda.max_memory_allocated() - base) / 2**20
    base, peak, done = _rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    call()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return seconds, max(0, max(peak[0], _rss()) - base) / 2**20


def pair(name: str, ours: Callable, reference: Callable, repeats: int, device) -> dict:
    ours(), reference()  # warm-up: caches, allocator, lazy imports
    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "reference": []}
    for repeat in range(repeats):  # who goes first alternates, so neither gets the quieter turns
        order = [("ours", ours), ("reference", reference)]
        for side, call in order if repeat % 2 == 0 else order[::-1]:
            runs[side].append(measured(call, device))
    row = {"name": name}
    for side, values in runs.items():
        row[f"{side}_s"] = statistics.median(v[0] for v in values)
        row[f"{side}_mib"] = max(v[1] for v in values)
    row["ratio"] = row["ours_s"] / row["reference_s"]
    print(
        f"{name}: ours {row['ours_s'] * 1e3:.0f} ms, reference {row['reference_s'] * 1e3:.0f} ms, "
        f"ratio {row['ratio']:.2f}x; peak +{row['ours_mib']:.0f} / +{row['reference_mib']:.0f} MiB"
    )
    return row


def benchmark(repeats: int, scorecam_size: int, device: torch.device) -> list[dict]:
    torch.manual_seed(0)
    model = torchvision.models.resnet50().eval().to(device)
    for param in model.parameters():  # every side explains the image, none trains the weights
        param.requires_grad_(False)
    x = prepare_image(data.coffee(), model, size=224).batch.to(device)
    small = prepare_image(data.coffee(), model, size=scorecam_size).batch.to(device)
    target = [ClassifierOutputTarget(CLASS)]
    grad_cam = GradCAM(model=model, target_layers=[model.layer4[-1]])
    score_cam = ScoreCAM(model=model, target_layers=[model.layer4[-1]])
    score_cam.batch_size = SCORECAM_BATCH
    integrated = IntegratedGradients(model)
    rows = [
        pair(
            "Grad-CAM",
            lambda: attribution_maps(model, x, CLASS, method="gradcam", layer="layer4"),
            # The input asks for gradients: pytorch-grad-cam then needs none for the frozen weights.
            lambda: grad_cam(input_tensor=x.clone().requires_grad_(True), targets=target),
            repeats,
            device,
        ),
        pair(
            f"ScoreCAM ({scorecam_size} px)",
            lambda: attribution_maps(
                model,
                small,
                CLASS,
                method="scorecam",
                layer="layer4",
                options={"batch_size": SCORECAM_BATCH},
            ),  # fmt: skip
            lambda: score_cam(input_tensor=small, targets=target),
            max(1, repeats // 3),
            device,
        ),
        pair(
            f"Integrated Gradients ({STEPS} steps)",
            lambda: attribution_maps(
                model,
                x,
                CLASS,
                method="integrated_gradients",
                options={"steps": STEPS, "batch_size": IG_BATCH},
            ),  # fmt: skip
            lambda: integrated.attribute(
                x.clone().requires_grad_(True),
                baselines=0.0,
                target=CLASS,
                n_steps=STEPS,
                internal_batch_size=IG_BATCH,
            ),  # fmt: skip
            repeats,
            device,
        ),
    ]
    return rows


def _machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    names = re.findall(r"model name\s*:\s*(.+)", cpuinfo.read_text()) if cpuinfo.exists() else []
    return f"{names[0].strip() if names else platform.machine()}, {os.cpu_count()} cores"


def section(rows: list[dict], device: torch.device, repeats: int) -> str:
    limits = {"Grad-CAM": 1.0, "ScoreCAM": 1.0, "Integrated Gradients": 1.05}
    lines = [
        "| method | ours | reference | ratio (ours / reference) | target | peak memory added "
        "(ours / reference) |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        limit = next(v for k, v in limits.items() if row["name"].startswith(k))
        met = "met" if row["ratio"] <= limit else "NOT met"
        lines.append(
            f"| {row['name']} | {row['ours_s'] * 1e3:.0f} ms | {row['reference_s'] * 1e3:.0f} ms | "
            f"{row['ratio']:.2f}x | <= {limit:g}x: {met} | {row['ours_mib']:.0f} / "
            f"{row['reference_mib']:.0f} MiB |"
        )
    table = "\n".join(lines)
    return f"""## Attribution

`benchmarks/attribution.py`, {datetime.date.today()}, {_machine(device)} ({device.type}), shared with
other jobs while it ran: the ratios (pairs run alternately) are what matters. ResNet-50 (random seeded
weights) on skimage's coffee photo at 224 (ScoreCAM at the side in its row: 2048 masked forwards per
map), class {CLASS}, layer `layer4`. References in the same run:
pytorch-grad-cam `GradCAM` / batched `ScoreCAM` (32 masked images per forward in both) and Captum's
`IntegratedGradients` called directly ({STEPS} steps, internal batch {IG_BATCH} in both: peak memory
bounded by it). Medians of {repeats} runs after a warm-up (ScoreCAM: {max(1, repeats // 3)}); peak
memory is what a call adds above what the process held before it.

{table}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scorecam-size", type=int, default=224)
    default = "cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", default=default)
    args = parser.parse_args()
    if args.scorecam_size < 64:
        parser.error("--scorecam-size must be at least 64: layer4 then still has a 2 x 2 map")
    device = torch.device(args.device)
    rows = benchmark(args.repeats, args.scorecam_size, device)
    replace_section(section(rows, device, args.repeats))


if __name__ == "__main__":
    main()
