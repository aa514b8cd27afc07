"""What the Attribution tab shows, without widgets: one explanation, its pictures, the class list.

An explanation is :func:`featviz_widgets.attribution.attribute` on the explorer's prepared image
(the library runs the model through the engine; nothing here touches it). :class:`Answer` keeps
what the pictures need and counts its bytes, so the tab caches answers under the memory budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from featviz_widgets import render
from featviz_widgets.attribution import METHODS, attribute
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets.tabs._base import Say

# Methods that answer in about one backward pass: drawn as soon as they are chosen. The others
# (ScoreCAM, SmoothGrad, Integrated Gradients, Occlusion) run many forwards: the job runner.
FAST_METHODS = ("gradcam", "gradcam++", "hirescam", "layercam", "saliency", "guided_backprop")
# Methods that explain at a layer (the CAM family): the others explain the input pixels.
INPUT_METHODS = ("saliency", "smoothgrad", "integrated_gradients", "occlusion", "guided_backprop")
LAYER_METHODS = tuple(method for method in METHODS if method not in INPUT_METHODS)
TOP_CLASSES = 5  # listed first in the Class dropdown, with their probabilities
TOP_CHANNELS = 8  # the channels behind the decision
THUMB = 112  # px: the long side of each channel's picture in the strip


@dataclass(frozen=True)
class Answer:
    """One explanation of ``target`` by ``method``.

    ``heat`` is float32 ``[H, W]`` as drawn over the photo (``Attribution.heat()``), ``map`` the
    library's signed map, ``channels`` each channel's contribution at ``layer`` (CAM family; None
    for input-space methods, whose ``layer`` is None).
    """

    target: int
    score: float
    method: str
    layer: str | None
    map: np.ndarray
    heat: np.ndarray
    channels: np.ndarray | None

    @property
    def nbytes(self) -> int:
        """Bytes the answer keeps (what the memory budget counts)."""
        extra = 0 if self.channels is None else self.channels.nbytes
        return self.map.nbytes + self.heat.nbytes + extra

    def top_channels(self, k: int = TOP_CHANNELS) -> np.ndarray:
        """The ``k`` channels contributing most, largest first (empty without channels)."""
        if self.channels is None:
            return np.zeros(0, dtype=np.int64)
        return np.argsort(-self.channels, kind="stable")[:k]


def explain(data: ExplorerData, target: int, method: str, layer: str | None) -> Answer:
    """Explain class ``target`` on the explorer's image with ``method`` (``layer`` None: the
    library's own pick). ValueError or TypeError from the library, naming the fix."""
    result = attribute(data.model, data.prepared, target, method=method, layer=layer)
    return Answer(
        target=target, score=float(result.score), method=method, layer=result.layer,
        map=result.map, heat=np.ascontiguousarray(result.heat(), dtype=np.float32),
        channels=result.channels,
    )  # fmt: skip


def top_class(data: ExplorerData) -> int | None:
    """The image's most likely class (the one explained while ``target_class`` is None); None
    when the output is not a class-score vector."""
    scores = data.class_vector()
    return None if scores is None else int(np.argmax(scores))


def class_options(data: ExplorerData, say: Say, lang: str) -> list[tuple[str, int]]:
    """The Class dropdown: the top classes with their probabilities, then every other class."""
    scores = data.class_vector()
    if scores is None:
        return []
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    top = [int(i) for i in order[:TOP_CLASSES]]
    options = [(say("attr_top_option", name=data.class_name(i, lang), prob=probs[i]), i)
               for i in top]  # fmt: skip
    chosen = set(top)
    options += [(say("attr_option", index=i, name=data.class_name(i, lang)), i)
                for i in range(len(scores)) if i not in chosen]  # fmt: skip
    return options


def heat_png(photo: np.ndarray, answer: Answer, opacity: float) -> bytes:
    """The answer's heatmap over the photo (jet, the classic attribution look)."""
    return render.to_png(render.overlay(photo, answer.heat, alpha=opacity, cmap="jet"))


def thumbnail(photo: np.ndarray) -> np.ndarray:
    """The photo with its long side at most :data:`THUMB` pixels."""
    picture = Image.fromarray(photo)
    scale = THUMB / max(picture.size)
    if scale < 1:
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(size, Image.BILINEAR)
    return np.asarray(picture)


def strip_png(thumb: np.ndarray, maps: np.ndarray, channels: np.ndarray, opacity: float) -> bytes:
    """Each channel's map over the photo thumbnail, in one row (``render.tile_rgb``, pad 2)."""
    tiles = [render.overlay(thumb, maps[c], alpha=opacity, cmap="jet") for c in channels]
    return render.to_png(render.tile_rgb(tiles, cols=len(tiles), pad=2))
