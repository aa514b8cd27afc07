"""top_examples against brute force (capture everything, sort in NumPy), and its bookkeeping."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict

import numpy as np
import pytest
import torch
from examples_support import (
    assert_same,
    brute_force,
    make_channels_last,
    make_vit,
    photo_crops,
    read_channels_first,
    read_channels_last,
    read_tokens,
    write_folder,
)
from support import assert_model_unchanged, make_tiny_cnn, model_state

from featviz_widgets.examples import Examples, RayEngine, top_examples
from featviz_widgets.examples.topk import EMPTY, TopK
from featviz_widgets.lab import make_patterns

SIZE = 32


@pytest.fixture(scope="module")
def crops():
    return photo_crops(45)


def assert_matches(found: Examples, expected: dict, layer: str) -> None:
    np.testing.assert_array_equal(found.indices[layer], expected["indices"])
    np.testing.assert_allclose(found.scores[layer], expected["scores"], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(found.max_indices[layer], expected["max_indices"])
    np.testing.assert_allclose(found.max_scores[layer], expected["max_scores"], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(found.max_positions[layer], expected["max_positions"])


# -- correctness against brute force ----------------------------------------------------------


def test_cnn_matches_brute_force_and_leaves_the_model_alone(crops):
    model = make_tiny_cnn().train()  # training mode on entry: capture must restore it
    model.conv1.weight.requires_grad_(False)
    before = model_state(model)
    layers = ["conv1", "bn2", "fc"]  # bn2 is overwritten by an in-place ReLU; fc is a vector
    found = top_examples(model, crops, layers, k=7, size=SIZE, batch_size=16, progress=False)
    assert_model_unchanged(model, before)
    assert found.map_shapes == {"conv1": (32, 32), "bn2": (16, 16), "fc": ()}
    assert found.layouts["conv1"] == "channels_first"
    for layer in layers:
        assert_matches(
            found, brute_force(model, crops, layer, read_channels_first, 7, SIZE, 16), layer
        )
    assert found.indices["conv1"].shape == (8, 7)
    assert found.max_positions["conv1"].shape == (8, 7, 2)
    assert found.max_positions["fc"].shape == (10, 7, 0)
    assert found.scored == 45 and not found.partial and found.skipped == []
    assert found.image_ids == list(range(45))


def test_vit_ranks_patch_tokens_without_the_class_token(crops):
    model = make_vit()
    layer = "encoder.layers.encoder_layer_1"
    found = top_examples(model, crops, [layer, "conv_proj"], k=5, batch_size=16, progress=False)
    assert found.preprocessing["crop"] == [32]  # the ViT's declared input size, not 224
    assert found.layouts[layer] == "tokens" and found.map_shapes[layer] == (4, 4)
    assert_matches(found, brute_force(model, crops, layer, read_tokens, 5, 32, 16), layer)
    expected = brute_force(model, crops, "conv_proj", read_channels_first, 5, 32, 16)
    assert_matches(found, expected, "conv_proj")


def test_channels_last_model_ranks_the_trailing_axis(crops):
    model = make_channels_last()
    found = top_examples(
        model, crops, ["norm", "act"], k=6, size=SIZE, batch_size=10, progress=False
    )
    for layer in ("norm", "act"):
        assert found.layouts[layer] == "channels_last"
        expected = brute_force(model, crops, layer, read_channels_last, 6, SIZE, 10)
        assert_matches(found, expected, layer)
    assert found.indices["act"].shape == (12, 6) and found.map_shapes["act"] == (15, 15)


def test_k_larger_than_the_dataset_keeps_every_image(crops):
    model = make_tiny_cnn()
    found = top_examples(model, crops[:5], "conv2", k=9, size=SIZE, progress=False)
    assert found.indices["conv2"].shape == (16, 5)
    expected = brute_force(model, crops[:5], "conv2", read_channels_first, 9, SIZE, 32)
    assert_matches(found, expected, "conv2")
    assert all(sorted(row) == list(range(5)) for row in found.indices["conv2"].tolist())


def test_folder_with_corrupt_files_skips_and_reports_them(crops, tmp_path):
    corrupt = write_folder(tmp_path, crops[:20])
    model = make_tiny_cnn()
    found = top_examples(model, tmp_path, ["conv1", "conv2"], k=4, size=SIZE, batch_size=8,
                         progress=False)  # fmt: skip
    assert found.scored == 20 and len(found.image_ids) == 22
    assert sorted(path for path, _ in found.skipped) == corrupt
    assert all(reason for _, reason in found.skipped)
    assert all(str(i).startswith(str(tmp_path)) for i in found.image_ids)
    assert not any(i.endswith(".txt") for i in found.image_ids)
    for layer in ("conv1", "conv2"):
        expected = brute_force(model, found.image_ids, layer, read_channels_first, 4, SIZE, 8)
        assert_matches(found, expected, layer)


def test_every_kind_of_source_gives_the_same_ranking():
    data = make_patterns(30, seed=3)
    tensors = [data.images[i] for i in range(len(data))]
    model = make_tiny_cnn()

    def run(images):
        return top_examples(model, images, "conv2", k=4, size=SIZE, batch_size=8, progress=False)

    results = [run(data), run(tensors), run(iter(tensors)), run(data.images)]
    for other in results[1:]:
        np.testing.assert_array_equal(other.indices["conv2"], results[0].indices["conv2"])
        np.testing.assert_array_equal(other.scores["conv2"], results[0].scores["conv2"])
    assert results[2].fingerprint  # a stream is fingerprinted as it is read


# -- partial runs, saving, resuming ----------------------------------------------------------


def _stop_after(images: int, event: threading.Event, seen: list[int]):
    def progress(done: int, total: int | None) -> None:
        seen.append(done)
        if done >= images:
            event.set()

    return progress


def test_cancel_returns_a_partial_result_and_a_cache_resumes_it(crops, tmp_path):
    model = make_tiny_cnn()
    kwargs = {"k": 5, "size": SIZE, "batch_size": 8}
    full = top_examples(model, crops, ["conv1", "fc"], progress=False, **kwargs)
    cache = tmp_path / "found.npz"
    cancel, seen = threading.Event(), []
    partial = top_examples(model, crops, ["conv1", "fc"], cache=cache, cancel=cancel,
                           progress=_stop_after(16, cancel, seen), **kwargs)  # fmt: skip
    assert partial.partial and partial.done == [(0, 16)] and partial.scored == 16
    assert Examples.load(cache).partial
    seen.clear()
    resumed = top_examples(model, crops, ["conv1", "fc"], cache=cache,
                           progress=lambda done, total: seen.append(done), **kwargs)  # fmt: skip
    assert seen == [24, 32, 40, 45]  # only the batches the partial run had not done
    assert_same(resumed, full)
    seen.clear()
    again = top_examples(model, crops, ["conv1", "fc"], cache=cache,
                         progress=lambda done, total: seen.append(done), **kwargs)  # fmt: skip
    assert seen == []  # complete and matching: read from the file, no forward
    assert_same(again, full)


def test_a_cache_of_other_weights_or_images_is_recomputed(crops, tmp_path):
    model = make_tiny_cnn()
    cache = tmp_path / "found.npz"
    first = top_examples(model, crops[:10], "conv1", size=SIZE, cache=cache, progress=False)
    with torch.no_grad():
        model.conv1.bias[0] += 1.0
    second = top_examples(model, crops[:10], "conv1", size=SIZE, cache=cache, progress=False)
    assert second.fingerprint != first.fingerprint
    assert Examples.load(cache).fingerprint == second.fingerprint
    third = top_examples(model, crops[:11], "conv1", size=SIZE, cache=cache, progress=False)
    assert len({first.fingerprint, second.fingerprint, third.fingerprint}) == 3
    with pytest.raises(ValueError, match="another run"):
        top_examples(model, crops[:10], "conv1", size=SIZE, resume=first, progress=False)


def test_resume_from_a_partial_result_object(crops):
    model = make_vit()
    layer = "encoder.layers.encoder_layer_0"
    full = top_examples(model, crops, layer, k=4, batch_size=10, progress=False)
    cancel = threading.Event()
    partial = top_examples(model, crops, layer, k=4, batch_size=10, cancel=cancel,
                           progress=_stop_after(20, cancel, []))  # fmt: skip
    assert partial.partial and partial.scored == 20
    assert_same(top_examples(model, crops, layer, k=4, batch_size=10, resume=partial,
                             progress=False), full)  # fmt: skip


def test_ctrl_c_returns_a_partial_result_and_leaves_the_model_alone(crops):
    model = make_tiny_cnn()
    before = model_state(model)

    def interrupt(done: int, total: int | None) -> None:
        raise KeyboardInterrupt

    found = top_examples(model, crops, "conv1", size=SIZE, batch_size=8, progress=interrupt)
    assert found.partial and found.done == [(0, 8)] and found.scored == 8
    assert_model_unchanged(model, before)


def test_save_load_round_trip(crops, tmp_path):
    paths = write_folder(tmp_path / "images", crops[:12])
    found = top_examples(make_tiny_cnn(), tmp_path / "images", ["conv1", "fc"], k=3, size=SIZE,
                         progress=False)  # fmt: skip
    found.save(tmp_path / "found.npz")
    loaded = Examples.load(tmp_path / "found.npz")
    assert_same(loaded, found)
    assert loaded.preprocessing == found.preprocessing and loaded.layouts == found.layouts
    assert sorted(p for p, _ in loaded.skipped) == paths
    with np.load(tmp_path / "found.npz", allow_pickle=False) as data:  # nothing pickled
        assert all(data[name].dtype != object for name in data.files)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a saved Examples"):
        Examples.load(tmp_path / "junk.npz")


def test_fingerprint_follows_files_and_preprocessing(crops, tmp_path):
    write_folder(tmp_path, crops[:6])
    model = make_tiny_cnn()

    def fingerprint(**kwargs):
        kwargs.setdefault("size", SIZE)
        return top_examples(model, tmp_path, "conv1", progress=False, **kwargs).fingerprint

    first = fingerprint()
    assert fingerprint() == first
    assert fingerprint(size=40) != first
    touched = tmp_path / "a" / "crop001.png"
    os.utime(touched, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert fingerprint() != first


# -- the top-k itself --------------------------------------------------------------------------


def test_topk_merges_any_split_into_the_single_pass_result():
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=(60, 5)), 1)  # rounded: many exact ties
    scores[3, 2] = scores[40, 2] = np.nan
    indices = np.arange(60)
    single = TopK.empty(5, 8).push(scores, indices)
    pieces = [TopK.empty(5, 8).push(scores[part], indices[part])
              for part in np.array_split(rng.permutation(60), 4)]  # fmt: skip
    merged = pieces[2].merge(pieces[0], pieces[3], pieces[1])
    np.testing.assert_array_equal(merged.indices, single.indices)
    np.testing.assert_array_equal(merged.scores, single.scores)
    for c in range(5):
        order = np.lexsort((indices, -np.nan_to_num(scores[:, c], nan=-np.inf)))[:8]
        np.testing.assert_array_equal(single.indices[c], order)


def test_topk_ties_go_to_the_lower_index_and_empty_slots_sort_last():
    state = TopK.empty(1, 4).push(np.array([[1.0], [np.nan], [1.0]]), np.array([9, 2, 4]))
    assert state.indices.tolist() == [[4, 9, 2, EMPTY]]
    assert state.filled() == 3


# -- errors ------------------------------------------------------------------------------------


def test_bad_arguments_say_what_to_do(crops):
    model = make_tiny_cnn()
    with pytest.raises(ValueError, match="conv1"):
        top_examples(model, crops, "conv_1", progress=False)
    with pytest.raises(ValueError, match="k must be"):
        top_examples(model, crops, "conv1", k=0, progress=False)
    with pytest.raises(ValueError, match="engine must be"):
        top_examples(model, crops, "conv1", engine="spark", progress=False)
    with pytest.raises(ValueError, match="none of the 2 images"):
        top_examples(model, ["/no/such.jpg", "/nor/this.png"], "conv1", progress=False)
    with pytest.raises(ValueError, match="read twice"):
        top_examples(model, iter(crops), "conv1", cache="x.npz", progress=False)


def test_ray_engine_without_ray_names_the_extra(monkeypatch, crops):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install \"featviz_widgets\[ray\]\""):
        top_examples(make_tiny_cnn(), crops, "conv1", engine="ray", progress=False)
    with pytest.raises(ImportError, match="featviz_widgets"):
        top_examples(make_tiny_cnn(), crops, "conv1", engine=RayEngine(actors=1), progress=False)


def test_progress_bar_shows_images_per_second(crops, capsys):
    top_examples(make_tiny_cnn(), crops[:10], "conv1", size=SIZE, batch_size=5)
    assert "img/s" in capsys.readouterr().err


class _FailsAt(torch.nn.Sequential):
    """The tiny CNN, raising in its ``fail_at``-th forward (a plain attribute: not fingerprinted)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == getattr(self, "fail_at", None):
            raise RuntimeError("out of memory (simulated)")
        return super().forward(x)


def test_a_model_error_halfway_keeps_the_finished_batches_in_the_cache(crops, tmp_path):
    model = _FailsAt(OrderedDict(make_tiny_cnn().named_children()))
    model.fail_at = 4  # the survey, two batches, then the third batch fails
    cache = tmp_path / "found.npz"
    kwargs = {"k": 5, "size": SIZE, "batch_size": 8, "progress": False}
    with pytest.raises(RuntimeError, match="simulated"):
        top_examples(model, crops, "conv2", cache=cache, **kwargs)
    saved = Examples.load(cache)
    assert saved.partial and saved.done == [(0, 16)]
    model.fail_at = None
    resumed = top_examples(model, crops, "conv2", cache=cache, **kwargs)
    assert_same(resumed, top_examples(model, crops, "conv2", **kwargs))


def test_an_image_folder_dataset_is_identified_by_its_files(crops, tmp_path):
    from torchvision.datasets import ImageFolder

    corrupt = write_folder(tmp_path, crops[:9])
    model = make_tiny_cnn()
    found = top_examples(model, ImageFolder(tmp_path), "conv1", size=SIZE, progress=False)
    from_folder = top_examples(model, tmp_path, "conv1", size=SIZE, progress=False)
    assert found.image_ids == from_folder.image_ids
    assert sorted(path for path, _ in found.skipped) == corrupt
    np.testing.assert_array_equal(found.indices["conv1"], from_folder.indices["conv1"])
