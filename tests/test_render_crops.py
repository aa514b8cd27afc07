"""render._crops, _compose and _detections: thumbnails, receptive-field crops, outlines, enlarged
pictures, kernels beside a picture, a detector's marks together, label maps resized.

References are written out by hand (loops, ``np.repeat``, PIL called directly) or composed from the
renderer's own single marks, whose drawing tests/test_render_annotate.py checks against NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from featviz_widgets import render


def _photo(height: int = 64, width: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# -- thumbnails ---------------------------------------------------------------------------------


def test_thumbnail_enlarges_with_crisp_pixels_and_shrinks_with_pil_bilinear() -> None:
    small = _photo(16, 16)
    np.testing.assert_array_equal(
        render.thumbnail(small, 64), small.repeat(4, axis=0).repeat(4, axis=1)
    )
    big = _photo(100, 80)
    want = np.asarray(Image.fromarray(big).resize((32, 32), Image.BILINEAR))
    np.testing.assert_array_equal(render.thumbnail(big, 32), want)
    assert render.thumbnail(big, 32).shape == (32, 32, 3)


def test_thumbnail_overlay_is_the_overlay_of_the_thumbnail_or_the_bare_thumbnail() -> None:
    photo, heat = _photo(32, 32), np.random.default_rng(1).random((4, 4))
    want = render.overlay(render.thumbnail(photo, 48), heat, alpha=0.5, cmap="viridis")
    np.testing.assert_array_equal(render.thumbnail_overlay(photo, heat, 48, "viridis"), want)
    np.testing.assert_array_equal(
        render.thumbnail_overlay(photo, None, 48, "viridis"), render.thumbnail(photo, 48)
    )


# -- outlines and crops -------------------------------------------------------------------------


def test_outlined_draws_a_white_ring_edged_in_black_on_a_copy() -> None:
    tile = np.full((20, 20, 3), 100, np.uint8)
    out = render.outlined(tile, (5, 6, 12, 15))
    assert (tile == 100).all()  # the input is left as it was
    ring = np.zeros((20, 20), bool)
    ring[5, 6:16] = ring[12, 6:16] = ring[5:13, 6] = ring[5:13, 15] = True
    edge = np.zeros((20, 20), bool)
    edge[4, 5:17] = edge[13, 5:17] = edge[4:14, 5] = edge[4:14, 16] = True
    assert (out[ring] == 255).all() and (out[edge] == 0).all()
    assert (out[~(ring | edge)] == 100).all()


def test_outlined_clips_a_ring_at_the_tile_border() -> None:
    out = render.outlined(np.full((10, 10, 3), 100, np.uint8), (0, 0, 9, 9))
    assert (out[0] == 255).all() and (out[:, 9] == 255).all() and (out[4, 4] == 100).all()


def test_crop_around_a_vector_unit_is_the_whole_picture() -> None:
    photo = _photo(40, 60)
    np.testing.assert_array_equal(
        render.crop_around(photo, np.array([]), (7,), (10, 10), 32), render.thumbnail(photo, 32)
    )


def test_crop_around_a_large_field_is_the_field_itself() -> None:
    """A field of half the picture: the cell's centre is (y + 0.5) * 64 / 8; no outline."""
    photo = _photo(64, 64)
    cell, side = np.array([2, 5]), (32, 32)
    top, left = round(2.5 * 8 - 16), round(5.5 * 8 - 16)  # 4, 28
    want = render.thumbnail(photo[top : top + 32, left : left + 32], 32)
    np.testing.assert_array_equal(render.crop_around(photo, cell, (8, 8), side, 32), want)


def test_crop_around_a_small_field_shows_context_and_outlines_the_field() -> None:
    """A 4x4 field is shown inside a quarter of the picture (16x16) around it, outlined."""
    photo = _photo(64, 64)
    cell = np.array([0, 3, 3])  # video (t, y, x): the last two place it
    got = render.crop_around(photo, cell, (1, 8, 8), (4, 4), 32)
    centre = 3.5 * 8  # 28
    view_top = round(centre - 8)  # 20: the 16x16 context box
    field_top = round(centre - 2)  # 26
    scale = 32 / 16
    y0 = round((field_top - view_top) * scale)  # 12
    y1 = min(32, round((field_top - view_top + 4) * scale)) - 1  # 19
    context = render.thumbnail(photo[view_top : view_top + 16, view_top : view_top + 16], 32)
    np.testing.assert_array_equal(got, render.outlined(context, (y0, y0, y1, y1)))
    assert (got[y0, y0:y1] == 255).all()


def test_crop_around_keeps_the_box_inside_the_picture() -> None:
    """A corner cell: the field box is moved inside the picture, not cut."""
    photo = _photo(64, 64)
    got = render.crop_around(photo, np.array([0, 0]), (8, 8), (32, 32), 32)
    np.testing.assert_array_equal(got, render.thumbnail(photo[:32, :32], 32))
    got = render.crop_around(photo, np.array([7, 7]), (8, 8), (32, 32), 32)
    np.testing.assert_array_equal(got, render.thumbnail(photo[32:, 32:], 32))


# -- composed pictures --------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "factor"), [(64, 4), (96, 2), (128, 2), (160, 1), (300, 1)])
def test_enlarged_repeats_pixels_by_an_integer_factor(side: int, factor: int) -> None:
    picture = _photo(side, side)
    assert render.enlarge_factor(picture.shape) == factor
    want = picture.repeat(factor, axis=0).repeat(factor, axis=1)
    np.testing.assert_array_equal(render.enlarged(picture), want)
    assert render.enlarged(picture, min_side=side * 3).shape[0] == side * 3


def test_with_kernels_puts_upsampled_kernels_beside_the_picture() -> None:
    picture = _photo(64, 80)
    kernels = [_photo(3, 3, seed) for seed in range(4)]  # a 2 x 2 grid, 64 px high
    out = render.with_kernels(picture, kernels)
    factor = (64 - 2) // (2 * 3)  # 10: two rows of 3-px kernels with a 2-px pad
    gap = max(4, 64 // 32)
    np.testing.assert_array_equal(out[:, :80], picture)
    assert (out[:, 80 : 80 + gap] == 255).all()
    panel = out[:, 80 + gap :]
    np.testing.assert_array_equal(panel[:30, :30], kernels[0].repeat(factor, 0).repeat(factor, 1))
    np.testing.assert_array_equal(
        panel[32:62, 32:62], kernels[3].repeat(factor, 0).repeat(factor, 1)
    )
    assert (panel[62:] == 255).all() and out.shape == (64, 80 + gap + 62, 3)


# -- detections and label maps ------------------------------------------------------------------


def test_draw_detections_is_masks_then_outlines_then_keypoints_worst_first() -> None:
    photo = np.full((40, 50, 3), 80, np.uint8)
    boxes = np.array([[5.0, 5.0, 25.0, 30.0], [15.0, 10.0, 45.0, 35.0]])
    colors = render.distinct_colors(2)
    masks = np.zeros((2, 40, 50), np.float32)
    masks[0, 8:20, 8:20], masks[1, 15:30, 20:40] = 0.9, 0.7
    points = np.zeros((2, 17, 3), np.float32)
    points[:, :, :2], points[:, :4, 2] = 12.0, 1.0
    points[1, :, :2] += 20.0
    got = render.draw_detections(photo, boxes, colors, masks=masks, keypoints=points)
    fill = render.fill_masks(photo, masks[::-1] > 0.5, colors[::-1], alpha=0.5)
    outlines = render.draw_boxes(fill, boxes[::-1], colors[::-1])
    want = render.draw_keypoints(
        outlines, points[::-1], colors[::-1], edges=render.COCO_PERSON_SKELETON
    )
    np.testing.assert_array_equal(got, want)
    assert (photo == 80).all()  # the caller's photo is left as it was


def test_draw_detections_leaves_out_masks_of_another_size_and_limbs_of_other_keypoints() -> None:
    photo = np.full((40, 50, 3), 80, np.uint8)
    boxes, colors = np.array([[5.0, 5.0, 25.0, 30.0]]), render.distinct_colors(1)
    points = np.full((1, 5, 3), 1.0, np.float32)
    points[0, :, 0] = np.arange(5) * 8.0 + 4.0
    got = render.draw_detections(
        photo, boxes, colors, masks=np.ones((1, 20, 25), np.float32), keypoints=points
    )
    want = render.draw_keypoints(render.draw_boxes(photo, boxes, colors), points, colors, edges=())
    np.testing.assert_array_equal(got, want)
    assert render.person_skeleton(points) == ()
    assert render.person_skeleton(np.zeros((1, 17, 3))) == render.COCO_PERSON_SKELETON


def test_resize_labels_scales_a_label_map_by_nearest_neighbours() -> None:
    labels = np.arange(12).reshape(3, 4)
    assert render.resize_labels(labels, (3, 4)) is labels
    np.testing.assert_array_equal(
        render.resize_labels(labels, (6, 8)), labels.repeat(2, axis=0).repeat(2, axis=1)
    )
    odd = render.resize_labels(labels, (5, 7))
    for y in range(5):
        for x in range(7):
            assert odd[y, x] == labels[y * 3 // 5, x * 4 // 7]
