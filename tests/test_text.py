"""featviz_widgets._text: the shared "Did you mean" hint and shape label (pure Python)."""

from __future__ import annotations

import difflib
import subprocess
import sys

import numpy as np
import pytest
import torch

from featviz_widgets._text import close_names, did_you_mean, shape_label


def test_did_you_mean_names_close_candidates_best_first() -> None:
    candidates = ["layer1.0.add", "layer1.0.relu", "layer2.0.add", "fc"]
    assert did_you_mean("layer1.0.ad", candidates, n=2) == (
        " Did you mean 'layer1.0.add', 'layer2.0.add'?"
    )
    assert did_you_mean("viridiss", ["magma", "viridis"]) == " Did you mean 'viridis'?"


def test_did_you_mean_names_each_candidate_once_and_keeps_their_order() -> None:
    # A module is often also a graph node of the same name: the candidate list repeats it.
    assert (
        did_you_mean("conv", ["conv1", "conv2", "conv1", "conv2"])
        == " Did you mean 'conv1', 'conv2'?"
    )
    # Equally close candidates keep the order they were given in.
    assert did_you_mean("abc", ["abd", "abe"]) == " Did you mean 'abd', 'abe'?"
    assert did_you_mean("abc", ["abe", "abd"]) == " Did you mean 'abe', 'abd'?"


def test_did_you_mean_respects_n_and_cutoff() -> None:
    names = [f"layer{i}" for i in range(10)]
    assert did_you_mean("layer", names, n=2) == " Did you mean 'layer0', 'layer1'?"
    assert did_you_mean("lyr", ["layer"], cutoff=0.9) == ""
    assert did_you_mean("lyr", ["layer"], cutoff=0.5) == " Did you mean 'layer'?"


def test_did_you_mean_scores_like_difflib() -> None:
    names = ["relu", "layer1.0.relu", "layer1.0.relu_1", "layer4.1.conv2", "fc", "avgpool"]
    for typo in ("layer1.0.rel", "relu_1", "layer4.conv2", "avg_pool", "f"):
        expected = difflib.get_close_matches(typo, names, n=3)
        hint = f" Did you mean {', '.join(map(repr, expected))}?" if expected else ""
        assert did_you_mean(typo, names, n=3) == hint, typo


def test_did_you_mean_rejects_a_bad_n_or_cutoff() -> None:
    with pytest.raises(ValueError, match="n must be >= 1"):
        did_you_mean("a", ["a"], n=0)
    with pytest.raises(ValueError, match="cutoff"):
        did_you_mean("a", ["a"], cutoff=1.5)


def test_did_you_mean_is_empty_when_nothing_is_close() -> None:
    assert did_you_mean("zzz", ["conv1", "fc"]) == ""
    assert did_you_mean("conv1", []) == ""
    assert did_you_mean("conv1", iter(())) == ""  # any iterable, consumed once
    assert did_you_mean(3, ["3"]) == ""  # type: ignore[arg-type]  (not a name: no hint)


def test_close_names_are_the_names_the_hint_words() -> None:
    names = ["layer1.0.add", "layer1.0.relu", "layer2.0.add", "fc"]
    assert close_names("layer1.0.ad", names, n=2) == ("layer1.0.add", "layer2.0.add")
    assert close_names("zzz", names) == ()
    assert close_names(3, ["3"]) == ()  # type: ignore[arg-type]
    for typo in ("layer1.0.ad", "relu", "fc1", "zzz"):
        close = close_names(typo, names)
        assert did_you_mean(typo, names) == (
            f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        )
    with pytest.raises(ValueError, match="n must be >= 1"):
        close_names("a", ["a"], n=0)


def test_did_you_mean_reads_as_the_end_of_a_sentence() -> None:
    message = f"unknown layer 'fc1'.{did_you_mean('fc1', ['fc'])}"
    assert message == "unknown layer 'fc1'. Did you mean 'fc'?"


@pytest.mark.parametrize(
    ("shape", "label"),
    [
        ((128, 28, 28), "128x28x28"),
        ([3], "3"),
        ((), "scalar"),
        (torch.Size([1, 768]), "1x768"),
        (np.zeros((2, 0, 5)).shape, "2x0x5"),
        ((np.int64(7), np.int32(4)), "7x4"),
    ],
)
def test_shape_label(shape, label) -> None:
    assert shape_label(shape) == label


def test_text_helpers_need_neither_numpy_nor_torch() -> None:
    code = (
        "import sys\n"
        "sys.modules['numpy'] = None\n"
        "sys.modules['torch'] = None\n"
        "from featviz_widgets._text import did_you_mean, shape_label\n"
        "from featviz_widgets.messages import Message\n"
        "print(did_you_mean('fc1', ['fc']), shape_label((2, 3)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Did you mean 'fc'? 2x3"
