"""Activation maximization: featviz_widgets.optvis vs torch-lucent 0.1.8, side by side in one run.

Same model (MobileNetV2, real IMAGENET1K_V1 weights), same layer, channel, image size (128) and steps.
Measures wall time per channel at an early, a middle and a late layer; the objective each picture
reaches when re-scored under 32 random jitter/scale/rotate transforms; and a "first 16 channels"
sheet as one batch versus 16 single runs. Saves docs/optvis_sheet.png (ours beside Lucent's) and
replaces the "## Activation maximization" section of benchmarks/RESULTS.md.

Lucent leaks a forward hook on every module per call, so each Lucent run gets a fresh copy of the
model. Lucent upsamples images below 224 px to 224 before the model unless ``fixed_image_size`` is
given: the main comparison passes ``fixed_image_size=128`` so both models see ~128 px inputs; one
run per layer with Lucent's default (224) is reported too.

One torch thread by default: on a 2-core machine shared with other jobs, two OpenMP threads spend
most of each step waiting at barriers for a descheduled partner, which measures the load, not the code.

Picture quality (``_optvis_quality``), sections "## Maximize: clipped pixels" and "## Maximize:
class pictures": the clipped-pixel fraction per layer of MobileNetV2 and ResNet-50 (random
weights: no offline ImageNet weights for it) against Lucent, and 20 ImageNet class pictures at
32 steps, 224 px, judged by robust top-1 over 20 random views, timed against Lucent; plus the
lab's TinyCNN pictures judged by a twin trained from other initial weights.

Usage: python benchmarks/optvis.py [--steps 128] [--repeats 3] [--threads 1] [--quick]
       [--parts speed,clipping,classes]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image, ImageDraw

from featviz_widgets.optvis import MaximizeSettings, maximize
from featviz_widgets.optvis import transforms as T

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _optvis_quality as Q  # noqa: E402
from _results import replace_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"early": "features.3", "middle": "features.9", "late": "features.16"}
CHANNEL = 5
SIZE = 128
SHEET_LAYER = "features.9"
WEIGHTS = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1


def _lucent():
    try:
        from lucent.optvis import objectives, param, render
    except ImportError as error:  # reported in RESULTS.md instead of a crash
        return None, f"{type(error).__name__}: {error}"
    return (objectives, param, render), None


class _Clock:
    """Wall and CPU seconds of a block (CPU time is steadier on a machine shared with other jobs)."""

    def __enter__(self) -> _Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def _ours(model: torch.nn.Module, target: object, steps: int) -> tuple[_Clock, list[np.ndarray]]:
    settings = MaximizeSettings(steps=steps, size=SIZE)
    with _Clock() as clock:
        result = maximize(model, target, settings=settings, weights=WEIGHTS)
    return clock, result.images


def _theirs(
    lucent, base: torch.nn.Module, layer: str, channels: list[int], steps: int, fixed: int | None
):
    objectives, param, render = lucent
    model = copy.deepcopy(base).eval()  # Lucent's hooks stay on this copy
    name = layer.replace(".", "_")
    objective = sum(objectives.channel(name, c, batch=i) for i, c in enumerate(channels))
    torch.manual_seed(0)
    np.random.seed(0)
    with _Clock() as clock:
        images = render.render_vis(
            model, objective, param_f=lambda: param.image(SIZE, batch=len(channels)),
            thresholds=(steps,), show_image=False, progress=False, fixed_image_size=fixed,
        )[-1]  # fmt: skip
    return clock, [(np.clip(img, 0, 1) * 255).round().astype(np.uint8) for img in images]


def _robust_score(model: torch.nn.Module, image: np.ndarray, layer: str, channel: int) -> float:
    """Mean channel activation over 32 seeded random jitter/scale/rotate views of ``image``."""
    pipeline = T.compose(
        [
            T.jitter(8),
            T.random_scale([0.9 + i / 50 for i in range(11)]),
            T.random_rotate(range(-10, 11)),
        ]
    )
    x = torch.from_numpy(image).permute(2, 0, 1).float().div(255).unsqueeze(0)
    views = torch.cat([pipeline(x, torch.Generator().manual_seed(1000 + k)) for k in range(32)])
    preprocess = WEIGHTS.transforms()
    mean, std = (
        torch.tensor(preprocess.mean).view(1, 3, 1, 1),
        torch.tensor(preprocess.std).view(1, 3, 1, 1),
    )
    found: dict[str, torch.Tensor] = {}
    handle = model.get_submodule(layer).register_forward_hook(
        lambda m, i, o: found.update(out=o.clone())
    )
    try:
        with torch.no_grad():
            model.eval()((views - mean) / std)
    finally:
        handle.remove()
    return float(found["out"][:, channel].mean())


def _sheet(ours: list[np.ndarray], theirs: list[np.ndarray] | None, path: Path) -> None:
    def grid(images: list[np.ndarray]) -> np.ndarray:
        cols, pad = 4, 4
        rows = -(-len(images) // cols)
        out = np.full((rows * (SIZE + pad) - pad, cols * (SIZE + pad) - pad, 3), 255, np.uint8)
        for k, img in enumerate(images):
            r, c = divmod(k, cols)
            out[
                r * (SIZE + pad) : r * (SIZE + pad) + SIZE,
                c * (SIZE + pad) : c * (SIZE + pad) + SIZE,
            ] = img
        return out

    panels = [("featviz_widgets (lucid preset)", grid(ours))]
    if theirs is not None:
        panels.append(("torch-lucent 0.1.8", grid(theirs)))
    h, w = panels[0][1].shape[:2]
    canvas = Image.new("RGB", (len(panels) * w + (len(panels) - 1) * 24, h + 28), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (title, panel) in enumerate(panels):
        x = k * (w + 24)
        draw.text((x, 6), f"{title}: {SHEET_LAYER} channels 0-15", fill="black")
        canvas.paste(Image.fromarray(panel), (x, 28))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


def _layer_rows(model, lucent, steps: int, repeats: int) -> list[dict]:
    rows = []
    for stage, layer in LAYERS.items():
        ours, theirs = [], []
        for _ in range(repeats):  # interleaved so machine load hits both alike
            clock, ours_img = _ours(model, (layer, CHANNEL), steps)
            ours.append(clock)
            if lucent is not None:
                clock, theirs_img = _theirs(lucent, model, layer, [CHANNEL], steps, fixed=SIZE)
                theirs.append(clock)
        row = {
            "stage": stage,
            "layer": layer,
            "ours_score": _robust_score(model, ours_img[0], layer, CHANNEL),
        }
        row["ours"] = statistics.median(c.wall for c in ours)
        row["ours_cpu"] = statistics.median(c.cpu for c in ours)
        if lucent is not None:
            row["theirs"] = statistics.median(c.wall for c in theirs)
            row["theirs_cpu"] = statistics.median(c.cpu for c in theirs)
            row["theirs_score"] = _robust_score(model, theirs_img[0], layer, CHANNEL)
            row["theirs_224"] = _theirs(lucent, model, layer, [CHANNEL], steps, fixed=None)[0].wall
        rows.append(row)
        print(row, flush=True)
    return rows


def _sheet_row(model, lucent, steps: int) -> dict:
    channels = list(range(16))
    row = {}
    clock, ours_images = _ours(model, (SHEET_LAYER, channels), steps)
    row["batch"], row["batch_cpu"] = clock.wall, clock.cpu
    singles = [_ours(model, (SHEET_LAYER, c), steps)[0] for c in channels]
    row["singles"], row["singles_cpu"] = sum(c.wall for c in singles), sum(c.cpu for c in singles)
    theirs_images = None
    if lucent is not None:
        clock, theirs_images = _theirs(lucent, model, SHEET_LAYER, channels, steps, fixed=SIZE)
        row["theirs_batch"], row["theirs_batch_cpu"] = clock.wall, clock.cpu
        scores = [
            (_robust_score(model, a, SHEET_LAYER, c), _robust_score(model, b, SHEET_LAYER, c))
            for c, a, b in zip(channels, ours_images, theirs_images, strict=True)
        ]
        row["sheet_wins"] = sum(a >= b for a, b in scores)
        row["sheet_scores"] = scores
    _sheet(ours_images, theirs_images, ROOT / "docs" / "optvis_sheet.png")
    print({k: v for k, v in row.items() if k != "sheet_scores"}, flush=True)
    return row


def _fmt_ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x"


_NOTES = [
    "Notes. Our lucid preset ends Lucid's transforms (pad 12, jitter 8, scale/rotate fused into one "
    "resample, jitter 4: 140 px) with a bilinear resize back to 128 px, like Lucent's final "
    "upsample, so both models see 128 x 128 inputs (and fixed-size models such as ViT and MaxViT "
    "take the preset). Batching 16 channels shares the per-step overhead only: on one CPU thread "
    "per-image compute dominates, so its gain here varies with the machine's load (1.0x to 1.4x so "
    "far); it is meant for multi-core CPUs and GPUs (not measured here). One torch thread: "
    "with two OpenMP threads on two shared cores each step waits at barriers for a descheduled "
    "thread, which measures the other jobs rather than the code.",
    "",
    "Lucent setup: `pip install torch-lucent==0.1.8 --no-deps`, `kornia==0.4.1 --no-deps` "
    "(Lucent 0.1.8 calls `kornia.get_rotation_matrix2d`, gone from later kornia; kornia 0.4.1's "
    "metadata pins an old torch), `tqdm`, `decorator`; torch stays 2.14.1.",
    "",
]


def _section(
    rows: list[dict], sheet: dict, args: argparse.Namespace, lucent_error: str | None
) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "## Activation maximization",
        "",
        f"`benchmarks/optvis.py`, {date.today()}, {platform.machine()}, {os.cpu_count()} CPUs shared "
        f"with other engineers' jobs (load average {load} at the end), torch {torch.__version__} "
        f"({args.threads} thread{'s' if args.threads > 1 else ''}), Python {platform.python_version()}. MobileNetV2 IMAGENET1K_V1, "
        f"channel {CHANNEL}, image {SIZE} px, {args.steps} steps, lucid preset (Fourier 1/f + "
        "decorrelated colour + sigmoid + pad/jitter/scale/rotate, Adam 0.05) on both sides; medians of "
        f"{args.repeats} interleaved runs. Lucent runs with `fixed_image_size=128` so its model sees "
        "128 px like ours (the last column is Lucent's default, which upsamples to 224, one run). "
        "Score = mean channel activation of the final uint8 picture under the same 32 seeded random "
        "jitter(8) / scale(0.9-1.1) / rotate(+-10 deg) views.",
        "",
    ]
    if lucent_error is not None:
        lines += [f"torch-lucent could not be imported, so only our side ran: `{lucent_error}`", ""]
        lines += ["| stage | layer | ours s/channel | ours score |", "|---|---|---:|---:|"]
        lines += [
            f"| {r['stage']} | {r['layer']} | {r['ours']:.2f} | {r['ours_score']:.3f} |"
            for r in rows
        ]
        return "\n".join(lines) + "\n"
    lines += [
        "| stage | layer | ours s | Lucent s | ratio | ours CPU s | Lucent CPU s | CPU ratio | target "
        "| ok (wall / CPU) | ours score | Lucent score | ok | Lucent default (224) s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---:|",
    ]
    for r in rows:
        target = 0.8 if r["stage"] == "late" else 0.5
        wall, cpu = r["ours"] / r["theirs"], r["ours_cpu"] / r["theirs_cpu"]
        ok = "/".join("yes" if x <= target else "NO" for x in (wall, cpu))
        lines.append(
            f"| {r['stage']} | {r['layer']} | {r['ours']:.2f} | {r['theirs']:.2f} | {wall:.2f}x "
            f"| {r['ours_cpu']:.2f} | {r['theirs_cpu']:.2f} | {cpu:.2f}x | <= {target}x | {ok} "
            f"| {r['ours_score']:.3f} | {r['theirs_score']:.3f} "
            f"| {'yes' if r['ours_score'] >= r['theirs_score'] else 'NO'} | {r['theirs_224']:.2f} |"
        )
    lines += [
        "",
        f"First 16 channels of {SHEET_LAYER} ({args.steps} steps): ours as one batch "
        f"{sheet['batch']:.1f} s ({sheet['batch_cpu']:.1f} s CPU) vs 16 single runs "
        f"{sheet['singles']:.1f} s ({sheet['singles_cpu']:.1f} s CPU): "
        f"{sheet['singles'] / sheet['batch']:.1f}x faster batched; Lucent as one batch "
        f"{sheet['theirs_batch']:.1f} s ({sheet['theirs_batch_cpu']:.1f} s CPU), so ours takes "
        f"{_fmt_ratio(sheet['batch'], sheet['theirs_batch'])} of Lucent's time. Robust score >= Lucent's for {sheet['sheet_wins']}/16 of the sheet's "
        "channels. Pictures: `docs/optvis_sheet.png` (ours left, Lucent right).",
        "",
        "Why it is faster: the forward stops right after the objective's layer (no work past it), "
        "the model's weights are frozen during the run so backward computes input gradients only "
        "(Lucent also computes every weight gradient), and hooks go on the needed layers only.",
        "",
        *_NOTES,
    ]
    return "\n".join(lines)


def _header(args: argparse.Namespace) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"`benchmarks/optvis.py`, {date.today()}, {platform.machine()}, {os.cpu_count()} CPUs "
        f"shared with other engineers' jobs (load average {load}), torch {torch.__version__} "
        f"({args.threads} thread{'s' if args.threads > 1 else ''}), torch-lucent 0.1.8 in the same run."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="8 steps, 1 repeat, no RESULTS.md")
    parser.add_argument("--parts", default="speed,clipping,classes")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats = 8, 1
    parts = set(args.parts.split(","))
    torch.set_num_threads(args.threads)
    lucent, lucent_error = _lucent()
    model = torchvision.models.mobilenet_v2(weights=WEIGHTS).eval()
    _ours(model, ("features.3", 0), 2)  # warm-up: first-call allocations and kernel choices
    if lucent is not None:
        _theirs(lucent, model, "features.3", [0], 2, fixed=SIZE)
    sections = []
    if "speed" in parts:
        rows = _layer_rows(model, lucent, args.steps, args.repeats)
        sheet = _sheet_row(model, lucent, args.steps)
        sections.append(_section(rows, sheet, args, lucent_error))
    if "clipping" in parts:
        sections.append(Q.clipping_section(model, WEIGHTS, lucent, _header(args), quick=args.quick))
    if "classes" in parts:
        sections.append(Q.classes_section(model, WEIGHTS, lucent, _header(args), quick=args.quick))
    for section in sections:  # each starts with its "## " title
        print(section)
        if not args.quick:
            replace_section(section)


if __name__ == "__main__":
    sys.exit(main())
