"""``top_examples``: for every channel of some layers, the dataset images that excite it most."""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import nn

from ..engine import check_layers, check_model, default_input_side
from ..inputs import preprocessing
from .fingerprint import fingerprint, images_digest, model_digest
from .job import CancelEvent, Job, ProgressCallback
from .local import run_local
from .ray_runner import RayEngine, import_ray, run_ray
from .result import Examples
from .sources import Stream, open_source
from .state import RunState

__all__ = ["top_examples"]


def top_examples(
    model: nn.Module,
    images: Any,
    layers: str | Sequence[str],
    k: int = 9,
    *,
    batch_size: int = 32,
    size: int | None = None,
    weights: Any = None,
    preprocess: Callable[[np.ndarray], Any] | None = None,
    engine: str | RayEngine = "local",
    progress: bool | ProgressCallback = True,
    cancel: CancelEvent | None = None,
    cache: str | os.PathLike | None = None,
    resume: Examples | str | os.PathLike | None = None,
) -> Examples:
    """Stream ``images`` through ``model`` and keep, per channel, the ``k`` images it likes best.

    Two rankings per channel: by the mean of its map (over space; ViT patch tokens; time for
    video) and by its max, with where the max was. Memory is one batch plus ``channels x k`` per
    layer, whatever the number of images.

    Parameters
    ----------
    model : any PyTorch model; it runs in eval mode under its lock and is left as it was.
    images : a folder (recursive; jpg/png/webp), a list of paths or images (PIL, NumPy, tensors),
        a torchvision-style dataset (``dataset[i]`` -> image or ``(image, label)``), or any
        iterable of images. Images that fail to load are skipped and listed in ``skipped``.
    layers : module names (``list_layers``), graph nodes (``list_nodes``) or capture keys
        (``"attn[0]"``); one pass ranks them all.
    k : images kept per channel.
    batch_size : images per forward.
    size : resize then centre-crop to ``size`` (the explorer's preprocessing); default: the
        side the explorer feeds the model (``engine.default_input_side``: its own fixed input
        size if it declares one, as a ViT does; a detection model's short side; else 224).
        Unused with ``weights``.
    weights : a torchvision weights enum member: its ``transforms()`` preprocess the images.
    preprocess : a Keras-style function of ``[1, H, W, C]`` 0..255 pixels used instead of a
        mean/std normalization (``keras.applications.resnet.preprocess_input``), as for the
        explorer; part of the fingerprint by its qualified name.
    engine : ``"local"`` (this process), ``"ray"`` or a :class:`RayEngine` (a Ray Data actor
        pool; the same result).
    progress : True shows a tqdm bar (a widget in Jupyter) with images/s; a callable gets
        ``(images_done, images_total)`` after each batch; False shows nothing.
    cancel : an event (``threading.Event``); once set, the run stops after the current batch.
    cache : a ``.npz`` path. A result saved there with the same fingerprint (weights, layers,
        preprocessing, images) and ``k`` is returned, or resumed when it is partial; any other
        file is replaced by this run's result, partial or not (also when the model raises
        halfway: the batches done are saved before the error propagates).
    resume : an earlier (partial) result or its path: only the images it did not cover are run.
        It must have this call's fingerprint and ``k``.

    Returns
    -------
    Examples
        ``partial`` is True when cancel or Ctrl-C stopped the run; it covers the batches done.

    Examples
    --------
    >>> from torchvision.models import resnet18
    >>> from featviz_widgets.lab import make_patterns
    >>> found = top_examples(resnet18(), make_patterns(64), ["layer2"], k=4, size=64,
    ...                      progress=False)
    >>> found.indices["layer2"].shape, found.scores["layer2"].shape
    ((128, 4), (128, 4))
    """
    check_model(model)
    _check_count("k", k)
    _check_count("batch_size", batch_size)
    ray_settings = _engine(engine)
    keys = check_layers(model, layers)
    recipe = preprocessing(
        model, weights=weights, size=default_input_side(model, size), preprocess=preprocess
    )
    source = open_source(images)
    if ray_settings is not None and isinstance(source, Stream):
        source = source.materialize()  # Ray actors index the images: read the iterable once
    model_hash = model_digest(model)
    if isinstance(source, Stream):
        if cache is not None or resume is not None:
            raise ValueError(
                "cache= and resume= need images that can be read twice: pass a folder, a list "
                "or a dataset instead of a one-pass iterable"
            )
        expected = None
    else:
        expected = fingerprint(model_hash, keys, recipe, images_digest(source.tokens()))
    start = _starting_point(expected, k, cache, resume)
    if start is not None and not start.partial:
        return start
    state = copy.deepcopy(start.state) if start is not None else RunState.empty(keys, k)
    job = Job(model, keys, recipe, source, batch_size, state, progress, cancel)
    try:
        stopped = run_local(job) if ray_settings is None else run_ray(job, ray_settings)
    except Exception:
        if cache is not None and job.state.done and expected is not None:
            # a model error halfway: keep the finished batches, resumable with the same cache=
            Examples(job.state, list(source.ids), True, expected, recipe.describe()).save(cache)
        raise
    if expected is None:  # a stream is fingerprinted as it is read
        expected = fingerprint(model_hash, keys, recipe, source.tokens_digest())
    found = Examples(job.state, list(source.ids), stopped, expected, recipe.describe())
    if cache is not None and job.state.done:
        found.save(cache)
    if not found.scored and found.skipped and not stopped:
        image_id, reason = found.skipped[0]
        raise ValueError(
            f"none of the {len(found.skipped)} images could be loaded; the first, {image_id!r}: "
            f"{reason}"
        )
    return found


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _engine(engine: str | RayEngine) -> RayEngine | None:
    """None for the local engine, else the Ray settings (Ray imported now: errors come early)."""
    if isinstance(engine, RayEngine):
        import_ray()
        return engine
    if engine == "local":
        return None
    if engine == "ray":
        import_ray()
        return RayEngine()
    raise ValueError(f"engine must be 'local', 'ray' or a RayEngine(...), got {engine!r}")


def _starting_point(
    expected: str | None,
    k: int,
    cache: str | os.PathLike | None,
    resume: Examples | str | os.PathLike | None,
) -> Examples | None:
    """The saved result to return or resume: ``resume`` (must match) or a matching ``cache``."""
    if resume is not None:
        saved = resume if isinstance(resume, Examples) else Examples.load(resume)
        if saved.fingerprint != expected or saved.k != k:
            raise ValueError(
                "resume= is a result of another run (its fingerprint or k differs: other "
                "weights, layers, preprocessing, images or k); run without resume="
            )
        return saved
    if cache is None or not os.path.exists(cache):
        return None
    try:
        saved = Examples.load(cache)
    except ValueError as error:
        warnings.warn(f"{error}; it will be replaced", stacklevel=3)
        return None
    return saved if saved.fingerprint == expected and saved.k == k else None
