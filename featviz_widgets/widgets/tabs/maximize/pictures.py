"""The pictures of a Maximize run: the sheet of optimized images, enlarged, kernels beside, and
where each image sits in it (so a click on one picks its channel)."""

from __future__ import annotations

from typing import Any

import numpy as np

from featviz_widgets import render
from featviz_widgets.widgets._data import ExplorerData
from featviz_widgets.widgets._picking import sheet_tiles
from featviz_widgets.widgets._picture import Tiles
from featviz_widgets.widgets.tabs.maximize.job import Job
from featviz_widgets.widgets.tabs.maximize.kernels import first_conv_kernels

SHEET_PAD = 2  # px between the pictures of a sheet (render.tile_rgb's white separators)


def sheet(images: Any) -> np.ndarray:
    """One picture from a single image, a batch array or a list of images."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        return images
    pictures = list(images)
    return render.tile_rgb(pictures, cols=sheet_cols(len(pictures)), pad=SHEET_PAD)


def sheet_cols(count: int) -> int:
    """Pictures per row of a sheet of ``count`` (a square-ish sheet)."""
    return int(np.ceil(np.sqrt(count)))


def preview_png(images: Any) -> bytes:
    """A preview or a cancelled run's images: the sheet, enlarged, as PNG bytes."""
    return render.to_png(render.enlarged(sheet(images)))


def result_picture(data: ExplorerData, job: Job, result: Any) -> np.ndarray:
    """A finished run's sheet, enlarged, with the first convolution's kernels beside it when
    ``job`` targets that layer (all of its kernels when the target was moved from it)."""
    kernels = None
    if job.mode != "class":
        which = None if job.asked else job.channels
        kernels = first_conv_kernels(data, job.asked or job.layer, which)
    picture = render.enlarged(sheet(result.images))  # the kernels then fill its height
    return picture if kernels is None else render.with_kernels(picture, kernels[1])


def result_tiles(job: Job, images: Any) -> Tiles | None:
    """Where each optimized picture is in the enlarged sheet, and its channel (None: a class)."""
    if job.mode == "class":
        return None
    pictures = [images] if isinstance(images, np.ndarray) and images.ndim == 3 else list(images)
    count, (height, width) = len(pictures), pictures[0].shape[:2]
    layout = render.sheet_layout(count, height, width, sheet_cols(count), SHEET_PAD)
    factor = render.enlarge_factor((layout.height, layout.width))
    return sheet_tiles(count, (height, width), layout.cols, SHEET_PAD, job.channels[:count],
                       scale=factor)  # fmt: skip
