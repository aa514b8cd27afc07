"""What a result depends on, as one hash: the weights, the layers, the preprocessing, the images.

A saved :class:`~featviz_widgets.examples.Examples` is reused (or resumed) only when its
fingerprint equals the one of the new call, so editing a weight, a layer list, the input size or
one image file gives a fresh run. The model part hashes the class, the module tree and every
parameter and buffer byte (a ResNet-18 takes about 0.1 s); the image part hashes one token per
image (:meth:`~featviz_widgets.examples.sources.Source.tokens`: path, size and modification time
for files, the pixels for images in memory).

Examples
--------
>>> from torch import nn
>>> net = nn.Conv2d(3, 4, 3)
>>> model_digest(net) == model_digest(nn.Conv2d(3, 4, 3))  # another random init
False
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from ..engine import owner_for
from ..inputs import Preprocessing

__all__ = ["FORMAT", "fingerprint", "images_digest", "model_digest"]

FORMAT = 1
"""Version of the fingerprint recipe and of the saved file layout; a change invalidates caches."""


def model_digest(model: nn.Module) -> str:
    """sha256 of the model's class, module tree, and every parameter and buffer (name, dtype, bytes).

    Read under the model's lock, so a background job cannot change a weight halfway through.
    """
    digest = hashlib.sha256()
    with owner_for(model).using():
        digest.update(f"{type(model).__module__}.{type(model).__qualname__}".encode())
        for name, module in model.named_modules():
            digest.update(f"|{name}:{type(module).__qualname__}".encode())
        for name, tensor in itertools.chain(model.named_parameters(), model.named_buffers()):
            digest.update(f"|{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(_tensor_bytes(tensor))
    return digest.hexdigest()


def _tensor_bytes(tensor: torch.Tensor) -> bytes | memoryview:
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    try:
        return flat.view(torch.uint8).numpy().data
    except (RuntimeError, TypeError):  # quantized and other exotic tensors: hash their text
        return repr(flat.tolist()).encode()


def images_digest(tokens: Iterable[str]) -> str:
    """sha256 of the per-image tokens, in source order."""
    digest = hashlib.sha256()
    for token in tokens:
        digest.update(token.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def fingerprint(
    model_hash: str, layers: Sequence[str], recipe: Preprocessing, images_hash: str
) -> str:
    """The one hash a saved result must match to be reused.

    Examples
    --------
    >>> from featviz_widgets.inputs import preprocessing
    >>> a = fingerprint("m", ["conv"], preprocessing(size=32), "i")
    >>> a == fingerprint("m", ["conv"], preprocessing(size=64), "i")
    False
    """
    described = {
        "format": FORMAT,
        "model": model_hash,
        "layers": list(layers),
        "preprocessing": recipe.describe(),
        "images": images_hash,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()
