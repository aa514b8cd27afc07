"""Where the images come from: a folder, a list, a Dataset or any iterable, read one by one.

:func:`open_source` turns what the user passed as ``images`` into a :class:`Source`: numbered
items (``position`` 0, 1, 2 ... in a fixed order), an id per item (its path, or its position),
and a token per item for the fingerprint (path, size and modification time for files; a hash of
the pixels for images held in memory). :func:`load_batch` prepares some items with the explorer's
:class:`~featviz_widgets.inputs.Preprocessing` and sets aside those that fail to load, with why.

Examples
--------
>>> from PIL import Image
>>> source = open_source([Image.new("RGB", (8, 8)), Image.new("RGB", (9, 9))])
>>> len(source), source.ids
(2, [0, 1])
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..inputs import Preprocessing

__all__ = ["IMAGE_SUFFIXES", "Source", "Stream", "load_batch", "open_source"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
"""File name endings a folder source picks up (any case), searched recursively."""

ImageId = str | int


class Source:
    """Numbered items that can be read in any order, any number of times.

    Attributes
    ----------
    ids : one id per item: the file path for files (also a dataset's ``samples``), else the
        item's position.
    kind : ``"folder"``, ``"files"``, ``"list"`` or ``"dataset"`` (for messages and saved results).
    """

    kind = "list"

    def __init__(self, items: Sequence[Any], ids: list[ImageId]) -> None:
        self._items = items
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def item(self, position: int) -> Any:
        """The image at ``position`` as the source holds it (a path, a PIL image, a tensor...)."""
        return _image_part(self._items[position])

    def tokens(self) -> Iterator[str]:
        """One string per item that changes when the item changes (for the fingerprint)."""
        for position in range(len(self)):
            yield _token(self._items[position])


class _Files(Source):
    kind = "files"

    def __init__(self, paths: list[str], kind: str) -> None:
        super().__init__(paths, list(paths))
        self.kind = kind


class _Dataset(Source):
    """A torchvision-style dataset: ``dataset[i]`` is an image or ``(image, label)``."""

    kind = "dataset"

    def __init__(self, dataset: Any) -> None:
        files = _dataset_files(dataset)  # ImageFolder and friends: the files are the ids
        super().__init__(dataset, files if files is not None else list(range(len(dataset))))
        self._dataset = dataset

    def tokens(self) -> Iterator[str]:
        dataset = self._dataset
        yield f"dataset:{type(dataset).__module__}.{type(dataset).__qualname__}:{len(dataset)}"
        transform = getattr(dataset, "transform", None)
        if transform is not None:
            yield f"transform:{transform!r}"
        files = _dataset_files(dataset)
        if files is not None:  # ImageFolder and friends list their files: stat them
            yield from map(_file_token, files)
            return
        array = _dataset_array(dataset)
        if array is not None:  # CIFAR's .data, a TensorDataset, the lab's PatternDataset
            yield _content_token(array)
            return
        yield from super().tokens()  # nothing cheaper to go by: read every item once


class Stream:
    """A one-pass iterable of images: numbered as they come, fingerprinted as they are read.

    ``ids`` grows as items are drawn; :meth:`tokens_digest` is final once the stream is exhausted.
    """

    kind = "stream"

    def __init__(self, iterable: Iterable[Any]) -> None:
        self._iterator = iter(iterable)
        self._hash = hashlib.sha256()
        self.ids: list[ImageId] = []

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        for raw in self._iterator:
            position = len(self.ids)
            self.ids.append(position)
            self._hash.update(_token(raw).encode())
            yield position, _image_part(raw)

    def tokens_digest(self) -> str:
        return self._hash.hexdigest()

    def materialize(self) -> Source:
        """Read the whole stream into memory: a :class:`Source` (what the Ray engine needs)."""
        items = [raw for _, raw in self]
        return Source(items, list(range(len(items))))


def open_source(images: Any) -> Source | Stream:
    """Turn ``images`` into a :class:`Source` (or a :class:`Stream` for one-pass iterables).

    Parameters
    ----------
    images : a folder (searched recursively for :data:`IMAGE_SUFFIXES`, in sorted path order),
        one image file, a list or tuple of paths and/or images (PIL, NumPy, tensors), a
        torchvision-style dataset (``len`` and ``dataset[i]`` returning an image or
        ``(image, label)``), a batch tensor or array ``[N, ...]``, or any iterable of images.

    Examples
    --------
    >>> open_source(iter([np.zeros((4, 4))])).kind
    'stream'
    """
    if isinstance(images, str | os.PathLike):
        return _open_path(Path(images))
    if isinstance(images, Image.Image):
        raise TypeError("images is one PIL image; pass a list of images, e.g. [img]")
    if isinstance(images, list | tuple):
        if images and all(isinstance(item, str | os.PathLike) for item in images):
            return _Files([os.fspath(item) for item in images], "files")
        ids = [os.fspath(item) if isinstance(item, str | os.PathLike) else i
               for i, item in enumerate(images)]  # fmt: skip
        return Source(list(images), ids)
    if hasattr(images, "__len__") and hasattr(images, "__getitem__"):
        return _Dataset(images)
    if isinstance(images, Iterable):
        return Stream(images)
    raise TypeError(
        f"cannot read images from a {type(images).__name__}; pass a folder, a list of paths or "
        "images, a Dataset (dataset[i] -> image or (image, label)) or an iterable of images"
    )


def load_batch(
    recipe: Preprocessing,
    positions: Sequence[int],
    read: Callable[[int], Any],
    ids: Sequence[ImageId],
) -> tuple[torch.Tensor | None, list[int], list[tuple[int, ImageId, str]]]:
    """Read and prepare the items at ``positions``; failures are set aside, not raised.

    ``read(position)`` returns the item (``Source.item``). Returns the ``[N, C, H, W]`` batch
    (None when nothing loaded), the positions it holds in order, and ``(position, id, reason)``
    for every item that failed to read or prepare (a corrupt file, an unreadable item).
    """
    tensors: list[torch.Tensor] = []
    kept: list[int] = []
    skipped: list[tuple[int, ImageId, str]] = []
    for position in positions:
        try:
            tensor = recipe.tensor(recipe.picture(read(position)))
        except Exception as error:  # whatever the decoder or the dataset raised: skip, say why
            skipped.append((position, ids[position], _reason(error)))
            continue
        if tensors and tensor.shape != tensors[0].shape:
            raise ValueError(
                f"image {ids[position]!r} prepares to {tuple(tensor.shape)} but the batch holds "
                f"{tuple(tensors[0].shape)}: pass size= (or weights= whose transforms crop) so "
                "every image is cropped to one size"
            )
        tensors.append(tensor)
        kept.append(position)
    batch = torch.stack(tensors) if tensors else None
    return batch, kept, skipped


def _reason(error: BaseException) -> str:
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first}"[:300]


def _open_path(path: Path) -> Source:
    if path.is_dir():
        files = sorted(
            os.path.join(root, name)
            for root, _, names in os.walk(path)
            for name in names
            if name.lower().endswith(IMAGE_SUFFIXES)
        )
        if not files:
            raise ValueError(
                f"no images in {os.fspath(path)!r} (searched recursively for "
                f"{', '.join(IMAGE_SUFFIXES)} files)"
            )
        return _Files(files, "folder")
    if path.is_file():
        return _Files([os.fspath(path)], "files")
    raise ValueError(f"images folder not found: {os.fspath(path)!r} (cwd: {os.getcwd()})")


def _image_part(raw: Any) -> Any:
    """The image in a dataset item: ``(image, label)`` -> image, ``{"image": ...}`` -> image."""
    if isinstance(raw, tuple | list) and raw and not isinstance(raw[0], int | float):
        return raw[0]
    if isinstance(raw, dict):
        for key in ("image", "img", "pixel_values"):
            if key in raw:
                return raw[key]
    return raw


# -- fingerprint tokens ----------------------------------------------------------------------


def _token(raw: Any) -> str:
    image = _image_part(raw)
    if isinstance(image, str | os.PathLike):
        return _file_token(os.fspath(image))
    return _content_token(image)


def _file_token(path: str) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        return f"file:{path}:missing"
    return f"file:{path}:{stat.st_size}:{stat.st_mtime_ns}"


def _content_token(image: Any) -> str:
    """A hash of the pixels of an in-memory image (PIL, NumPy or torch)."""
    digest = hashlib.sha256()
    if isinstance(image, Image.Image):
        digest.update(f"pil:{image.mode}:{image.size}".encode())
        digest.update(image.tobytes())
    elif isinstance(image, torch.Tensor):
        flat = image.detach().cpu().contiguous().reshape(-1)
        digest.update(f"tensor:{image.dtype}:{tuple(image.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    elif isinstance(image, np.ndarray) and image.dtype != object:
        digest.update(f"array:{image.dtype}:{image.shape}".encode())
        digest.update(np.ascontiguousarray(image).tobytes())
    else:  # not an image: it will be skipped when loaded; its text is all there is to go by
        digest.update(f"{type(image).__qualname__}:{image!r}"[:1000].encode())
    return digest.hexdigest()


def _dataset_files(dataset: Any) -> list[str] | None:
    for attribute in ("samples", "imgs"):
        samples = getattr(dataset, attribute, None)
        if isinstance(samples, list) and len(samples) == len(dataset):
            paths = [s[0] if isinstance(s, tuple | list) else s for s in samples]
            if all(isinstance(p, str | os.PathLike) for p in paths):
                return [os.fspath(p) for p in paths]
    return None


def _dataset_array(dataset: Any) -> Any:
    for attribute in ("data", "images", "tensors"):
        value = getattr(dataset, attribute, None)
        if isinstance(value, tuple) and value and isinstance(value[0], torch.Tensor):
            value = value[0]  # TensorDataset: the first tensor holds the images
        if isinstance(value, torch.Tensor | np.ndarray) and len(value) == len(dataset):
            return value
    return None
