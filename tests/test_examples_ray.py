"""engine="ray" gives exactly engine="local"'s result, on one local Ray started once for the module.

Ray runs on loopback with two CPUs (``ray.init(num_cpus=2)``); every test shares that Ray, and
top_examples leaves it running (it shuts down only a Ray it started itself).
"""

from __future__ import annotations

import threading

import pytest
import ray
from examples_support import assert_same, make_vit, photo_crops, write_folder
from support import assert_model_unchanged, make_tiny_cnn, model_state

from featviz_widgets.examples import RayEngine, top_examples
from featviz_widgets.lab import make_patterns

SIZE = 32


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def crops():
    return photo_crops(40, seed=1)


def test_ray_equals_local_on_a_folder_with_corrupt_files(crops, tmp_path):
    write_folder(tmp_path, crops)
    model = make_tiny_cnn()
    before = model_state(model)
    kwargs = {"k": 6, "size": SIZE, "batch_size": 8, "progress": False}
    layers = ["conv1", "bn2", "fc"]
    local = top_examples(model, tmp_path, layers, **kwargs)  # 2 threads here, 1 per actor
    on_ray = top_examples(model, tmp_path, layers, engine="ray", **kwargs)
    assert len(on_ray.skipped) == 2 and on_ray.scored == 40
    assert_same(on_ray, local)
    assert_model_unchanged(model, before)
    assert ray.is_initialized()  # the module's Ray: not ours to shut down


def test_ray_resumes_a_local_partial_run_of_a_vit_on_a_dataset_to_the_local_result():
    model = make_vit()
    data = make_patterns(48, seed=2)
    layer = "encoder.layers.encoder_layer_1"
    kwargs = {"k": 5, "batch_size": 8}
    local = top_examples(model, data, layer, progress=False, **kwargs)
    cancel = threading.Event()

    def stop_after_two_batches(done: int, total: int | None) -> None:
        if done >= 16:
            cancel.set()

    partial = top_examples(
        model, data, layer, cancel=cancel, progress=stop_after_two_batches, **kwargs
    )
    assert partial.partial and partial.done == [(0, 16)]
    engine = RayEngine(actors=2, num_cpus=1)
    resumed = top_examples(
        model, data, layer, engine=engine, resume=partial, progress=False, **kwargs
    )
    assert_same(resumed, local)  # 4 of the 6 batches ran on the actors
