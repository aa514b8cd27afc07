"""Offline data and an independent reference for the dataset-examples tests.

- :func:`photo_crops`: random crops of the lab's sample photos (varied sizes and aspect ratios).
- :func:`write_folder`: those crops as jpg/png/webp files in nested folders, plus corrupt files.
- :func:`brute_force`: capture every image's output and sort in NumPy, no top-k code involved.
- :func:`assert_same`: two results equal bit for bit.
- Small models: a ViT with tokens and a channels-last stack, all from library classes (so Ray
  actors can unpickle them).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.models import VisionTransformer
from torchvision.ops.misc import Permute

from featviz_widgets.engine import capture
from featviz_widgets.examples import Examples
from featviz_widgets.inputs import prepare_image
from featviz_widgets.lab import load_sample

_PHOTOS = ("chelsea", "coffee", "astronaut", "grace_hopper")


def photo_crops(count: int, seed: int = 0) -> list[Image.Image]:
    """``count`` random crops (24..200 px a side, any aspect) of the four sample photos."""
    rng = np.random.default_rng(seed)
    photos = [load_sample(name) for name in _PHOTOS]
    crops = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        width, height = rng.integers(24, 200, size=2)
        left = rng.integers(0, photo.width - width)
        top = rng.integers(0, photo.height - height)
        crops.append(photo.crop((int(left), int(top), int(left + width), int(top + height))))
    return crops


def write_folder(root: Path, crops: Sequence[Image.Image]) -> list[str]:
    """Crops saved as jpg / png / webp in nested folders, two corrupt files and a text file.

    Returns the corrupt files' paths.
    """
    suffixes = (".jpg", ".png", ".webp")
    for i, crop in enumerate(crops):
        folder = root / ("a" if i % 2 else "b/c")
        folder.mkdir(parents=True, exist_ok=True)
        crop.save(folder / f"crop{i:03d}{suffixes[i % 3]}")
    bad = root / "bad"
    bad.mkdir()
    whole = root / "b/c/crop000.jpg"
    (bad / "truncated.jpg").write_bytes(whole.read_bytes()[:200])
    (bad / "not_an_image.png").write_text("this is text, not a PNG")
    (root / "notes.txt").write_text("not an image suffix: never read")
    return [str(bad / "not_an_image.png"), str(bad / "truncated.jpg")]


def read_channels_first(item: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """``[C, H, W]`` -> ``[C, H*W]``; ``[C]`` (a vector) -> ``[C, 1]``."""
    if item.ndim == 1:
        return item[:, None], ()
    return item.reshape(item.shape[0], -1), item.shape[1:]


def read_tokens(item: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """ViT ``[1 + s*s, D]``: the class token dropped, patch tokens as ``[D, s*s]``."""
    side = int(round((item.shape[0] - 1) ** 0.5))
    return item[1:].T, (side, side)


def read_channels_last(item: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """``[H, W, C]`` -> ``[C, H*W]``."""
    return item.reshape(-1, item.shape[-1]).T, item.shape[:2]


def brute_force(
    model: nn.Module,
    images: Sequence[Any],
    layer: str,
    read: Callable[[np.ndarray], tuple[np.ndarray, tuple[int, ...]]],
    k: int,
    size: int,
    batch_size: int,
) -> dict[str, np.ndarray]:
    """Every image's output of ``layer``, reduced and sorted in NumPy (float64 means).

    Batches are the same position ranges top_examples uses (images that fail to load dropped from
    theirs), so both see the very same activations. Ties go to the lower position.
    """
    means, maxes, places, kept = [], [], [], []
    for start in range(0, len(images), batch_size):
        batch, positions = [], []
        for position in range(start, min(start + batch_size, len(images))):
            try:
                batch.append(prepare_image(images[position], model, size=size).batch)
            except ValueError:
                continue
            positions.append(position)
        if not batch:
            continue
        output = capture(model, torch.cat(batch), [layer])[layer].float().numpy()
        for item, position in zip(output, positions, strict=True):
            flat, shape = read(item)
            means.append(flat.astype(np.float64).mean(axis=1))
            maxes.append(flat.max(axis=1).astype(np.float64))
            arg = flat.argmax(axis=1)
            places.append(
                np.stack(np.unravel_index(arg, shape), -1) if shape else arg[:, None][:, :0]
            )
            kept.append(position)
    kept_arr = np.array(kept)
    return {
        **_ranked(np.array(means), kept_arr, k, "", None),
        **_ranked(np.array(maxes), kept_arr, k, "max_", np.array(places)),
    }


def _ranked(scores: np.ndarray, kept: np.ndarray, k: int, prefix: str, places: Any) -> dict:
    channels = scores.shape[1]
    orders = [np.lexsort((kept, -scores[:, c]))[:k] for c in range(channels)]
    found = {
        f"{prefix}indices": np.array([kept[o] for o in orders]),
        f"{prefix}scores": np.array([scores[o, c] for c, o in enumerate(orders)]),
    }
    if places is not None:
        found["max_positions"] = np.array([places[o, c] for c, o in enumerate(orders)])
    return found


def assert_same(a: Examples, b: Examples) -> None:
    """Bit for bit: every ranking, position, count, skipped image and id."""
    assert a.layers == b.layers and a.image_ids == b.image_ids
    assert (a.scored, a.skipped, a.done, a.partial) == (b.scored, b.skipped, b.done, b.partial)
    assert a.fingerprint == b.fingerprint and a.map_shapes == b.map_shapes
    for name in ("indices", "scores", "max_indices", "max_scores", "max_positions"):
        for layer in a.layers:
            np.testing.assert_array_equal(getattr(a, name)[layer], getattr(b, name)[layer])


def make_vit(seed: int = 0) -> VisionTransformer:
    """A 2-layer ViT on 32 x 32 inputs, 8 x 8 patches (16 tokens + class token), width 32."""
    torch.manual_seed(seed)
    return VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
        num_classes=10,
    ).eval()  # fmt: skip


def make_channels_last(seed: int = 0) -> nn.Sequential:
    """Conv, then ``Permute`` to ``[N, H, W, C]`` and a LayerNorm / Linear / GELU stage (Swin-like)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(3, 8, 3, stride=2),
            to_last=Permute([0, 2, 3, 1]),
            norm=nn.LayerNorm(8),
            proj=nn.Linear(8, 12),
            act=nn.GELU(),
        )
    ).eval()
