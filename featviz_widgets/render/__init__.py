"""Rendering: NumPy activations and weights in, uint8 images and PNG bytes out.

Imports NumPy, PIL and matplotlib's colormap registry only (no figures, no torch). Split by job:
``_norm`` (normalize), ``_color`` (lookup tables), ``_geometry`` (layouts, tile rectangles),
``_grid`` (channel grids, single maps, frames, picture sheets), ``_maps`` (aggregate, overlay,
strips), ``_kernels`` (weights), ``_stats`` (ranking), ``_encode`` (PNG/JPEG), ``_annotate``
(box outlines, instance masks, keypoints and label masks on a photo: detection and segmentation
predictions, no text), ``_detections`` (a detector's boxes, masks and keypoints together),
``_crops`` (thumbnails, receptive-field crops, outlines), ``_compose`` (enlarged pictures, kernels
beside a picture).

Typical use: ``to_png(grid(acts, cols=16))``; in a widget, ``grid_png(...)`` is the same picture, faster.
"""

from __future__ import annotations

from ._annotate import (
    COCO_PERSON_KEYPOINTS,
    COCO_PERSON_SKELETON,
    distinct_colors,
    draw_boxes,
    draw_keypoints,
    fill_masks,
    label_overlay,
    label_shares,
)
from ._color import NAN_COLOR, PAD_COLOR, colorize, colormap_lut
from ._compose import DISPLAY_MIN, enlarge_factor, enlarged, with_kernels
from ._crops import crop_around, outlined, thumbnail, thumbnail_overlay
from ._detections import MASK_ALPHA, MASK_THRESHOLD, draw_detections, person_skeleton, resize_labels
from ._encode import to_jpeg, to_png
from ._geometry import (
    GridLayout,
    grid_layout,
    sheet_layout,
    single_layout,
    strip_boxes,
    tile_boxes,
)
from ._grid import frames, grid, grid_png, single, tile_rgb
from ._kernels import kernel_boxes, kernels
from ._maps import AGGREGATES, aggregate, overlay, vector_strip
from ._norm import NORMALIZATIONS, normalize
from ._stats import STATS, channel_stats, top_k

__all__ = [
    "AGGREGATES",
    "COCO_PERSON_KEYPOINTS",
    "COCO_PERSON_SKELETON",
    "DISPLAY_MIN",
    "MASK_ALPHA",
    "MASK_THRESHOLD",
    "NAN_COLOR",
    "NORMALIZATIONS",
    "PAD_COLOR",
    "STATS",
    "GridLayout",
    "aggregate",
    "channel_stats",
    "colorize",
    "colormap_lut",
    "crop_around",
    "distinct_colors",
    "draw_detections",
    "draw_boxes",
    "draw_keypoints",
    "enlarge_factor",
    "enlarged",
    "fill_masks",
    "frames",
    "grid",
    "grid_layout",
    "grid_png",
    "kernel_boxes",
    "kernels",
    "label_overlay",
    "label_shares",
    "normalize",
    "resize_labels",
    "outlined",
    "overlay",
    "person_skeleton",
    "sheet_layout",
    "single",
    "single_layout",
    "strip_boxes",
    "tile_boxes",
    "tile_rgb",
    "thumbnail",
    "thumbnail_overlay",
    "to_jpeg",
    "to_png",
    "top_k",
    "vector_strip",
    "with_kernels",
]
