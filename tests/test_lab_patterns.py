"""The generated pattern dataset: shapes, ranges, determinism, balance and what the classes look like."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from featviz_widgets.lab.patterns import CLASS_NAMES, PatternDataset, make_patterns


def test_shapes_dtypes_and_range() -> None:
    data = make_patterns(70, size=32, seed=0)
    assert isinstance(data, PatternDataset)
    assert data.images.shape == (70, 3, 32, 32)
    assert data.images.dtype == torch.float32
    assert data.labels.shape == (70,)
    assert data.labels.dtype == torch.int64
    assert float(data.images.min()) >= 0.0
    assert float(data.images.max()) <= 1.0
    assert data.class_names == CLASS_NAMES
    assert len(CLASS_NAMES) == 7
    assert len(data) == 70
    image, label = data[3]
    assert image.shape == (3, 32, 32)
    assert label == int(data.labels[3])


def test_other_sizes() -> None:
    data = make_patterns(14, size=48, seed=2)
    assert data.images.shape == (14, 3, 48, 48)


def test_same_seed_same_tensors_other_seed_differs() -> None:
    first, second = make_patterns(140, seed=7), make_patterns(140, seed=7)
    assert torch.equal(first.images, second.images)
    assert torch.equal(first.labels, second.labels)
    other = make_patterns(140, seed=8)
    assert not torch.equal(first.images, other.images)


@pytest.mark.parametrize("n", [7, 100, 703])
def test_classes_are_balanced(n: int) -> None:
    counts = torch.bincount(make_patterns(n, seed=1).labels, minlength=len(CLASS_NAMES))
    assert int(counts.sum()) == n
    assert int(counts.max() - counts.min()) <= 1


def test_labels_are_shuffled() -> None:
    labels = make_patterns(140, seed=0).labels
    assert not torch.equal(labels, torch.arange(140) % len(CLASS_NAMES))


def test_noise_free_images_have_two_colours_with_contrast() -> None:
    data = make_patterns(70, seed=3, noise=0.0)
    for image in data.images:
        colours = torch.unique(image.reshape(3, -1).T, dim=0)
        assert len(colours) == 2
        assert float((colours[0] - colours[1]).abs().min()) >= 0.34


def _mean_step(images: torch.Tensor, dy: int, dx: int) -> float:
    """Mean absolute difference between each pixel and its neighbour at (dy, dx)."""
    h, w = images.shape[-2:]
    a = images[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)]
    b = images[..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
    return float((a - b).abs().mean())


def test_stripe_classes_have_their_orientation() -> None:
    """Along the stripes, neighbours are alike; across them, they differ."""
    data = make_patterns(700, seed=4, noise=0.0)
    steps = {"along x": (0, 1), "along y": (1, 0), "along /": (-1, 1), "along \\": (1, 1)}
    expected_smooth = {
        "horizontal stripes": "along x",
        "vertical stripes": "along y",
        "diagonal stripes /": "along /",
        "diagonal stripes \\": "along \\",
    }
    for name, smooth in expected_smooth.items():
        images = data.images[data.labels == CLASS_NAMES.index(name)]
        change = {direction: _mean_step(images, *step) for direction, step in steps.items()}
        assert min(change, key=change.get) == smooth, (name, change)


def test_shapes_are_compact_and_centred_inside() -> None:
    """Disks and squares leave the image border mostly background; a square fills its bounding box."""
    data = make_patterns(700, seed=5, noise=0.0)
    for name in ("disk", "square"):
        images = data.images[data.labels == CLASS_NAMES.index(name)].numpy()
        for image in images[:20]:
            # The colour of the top-left pixel is background: the shape never touches the border.
            fg = np.any(np.abs(image - image[:, :1, :1]) > 1e-6, axis=0)
            assert fg.sum() > 0 and not fg[0].any() and not fg[-1].any()
            rows, cols = np.flatnonzero(fg.any(1)), np.flatnonzero(fg.any(0))
            fill = fg.sum() / ((rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1))
            # pi/4 ~ 0.785 for a disk, 1 for a square (pixelation blurs both a little).
            assert (0.65 < fill < 0.9) if name == "disk" else fill > 0.97, (name, fill)


def test_generation_is_fast() -> None:
    make_patterns(70)  # warm-up
    start = time.perf_counter()
    make_patterns(4000, seed=9)
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize(
    "kwargs", [{"n": 0}, {"n": 2.5}, {"size": 8}, {"noise": -0.1}, {"noise": float("nan")}]
)
def test_bad_arguments_raise_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        make_patterns(**kwargs)
