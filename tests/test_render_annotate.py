"""render._annotate: box outlines, label masks blended over a photo, label shares, palettes.

NumPy references (float64, loops) for what the vectorized drawing must give.
"""

from __future__ import annotations

import numpy as np
import pytest

from featviz_widgets import render


def _photo(height: int = 40, width: int = 60) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_distinct_colors_are_distinct_and_deterministic() -> None:
    colors = render.distinct_colors(24)
    assert colors.shape == (24, 3) and colors.dtype == np.uint8
    assert len({tuple(c) for c in colors}) == 24
    assert np.array_equal(colors[:5], render.distinct_colors(5))
    # neighbours differ clearly (golden-angle hues): no two consecutive colours look alike
    steps = np.abs(colors[1:].astype(int) - colors[:-1].astype(int)).sum(axis=1)
    assert steps.min() > 60, steps
    assert render.distinct_colors(0).shape == (0, 3)


@pytest.mark.parametrize("count", [-1, 2.5, True, "3"])
def test_distinct_colors_rejects_a_bad_count(count) -> None:
    with pytest.raises(ValueError, match="count must be a non-negative int"):
        render.distinct_colors(count)


def _outline_reference(height: int, width: int, box, line: int) -> np.ndarray:
    """Pixels of one box's outline by the definition: inside the box's pixel span, within
    ``line`` pixels of one of its edges (loops, no slicing)."""
    left, top = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    right, bottom = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    mask = np.zeros((height, width), bool)
    for y in range(top, bottom):
        for x in range(left, right):
            near = min(y - top, bottom - 1 - y, x - left, right - 1 - x)
            mask[y, x] = near < line
    return mask


@pytest.mark.parametrize("line", [1, 2, 3])
def test_draw_boxes_outlines_each_box_in_its_colour_and_leaves_the_photo(line) -> None:
    photo = _photo()
    before = photo.copy()
    boxes = np.array([[5.2, 4.0, 30.7, 22.0], [40.0, 10.0, 59.0, 39.5]])
    colors = render.distinct_colors(2)
    drawn = render.draw_boxes(photo, boxes, colors, width=line)
    assert np.array_equal(photo, before), "the caller's photo was modified"
    expected = photo.copy()
    for box, color in zip(boxes, colors, strict=True):
        expected[_outline_reference(40, 60, box, line)] = color
    assert np.array_equal(drawn, expected)


def test_later_boxes_are_drawn_over_earlier_ones() -> None:
    colors = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    box = np.array([[2.0, 2.0, 20.0, 20.0], [2.0, 2.0, 20.0, 20.0]])
    drawn = render.draw_boxes(_photo(), box, colors, width=1)
    assert (drawn[2, 2:20] == colors[1]).all()


def test_boxes_are_clipped_and_empty_or_outside_ones_skipped() -> None:
    photo = _photo(30, 30)
    boxes = np.array(
        [
            [-10.0, -10.0, 10.0, 10.0],  # partly outside: clipped to the photo
            [50.0, 50.0, 60.0, 60.0],  # wholly outside
            [5.0, 5.0, 5.0, 9.0],  # zero width
            [np.nan, 0.0, 4.0, 4.0],  # not finite
        ]
    )
    colors = render.distinct_colors(4)
    drawn = render.draw_boxes(photo, boxes, colors, width=1)
    assert (drawn[0:10, 9] == colors[0]).all() and (drawn[9, 0:10] == colors[0]).all()
    changed = (drawn != photo).any(axis=2)
    assert np.array_equal(changed, _outline_reference(30, 30, boxes[0], 1) & changed)
    assert render.draw_boxes(photo, np.zeros((0, 4)), np.zeros((0, 3), np.uint8)).shape == (
        30,
        30,
        3,
    )


def test_default_width_grows_with_the_photo() -> None:
    small = render.draw_boxes(_photo(100, 100), np.array([[10.0, 10, 90, 90]]), [[255, 0, 0]])
    large = render.draw_boxes(
        np.zeros((800, 800, 3), np.uint8), np.array([[10.0, 10, 790, 790]]), [[255, 0, 0]]
    )
    assert (small[10:12, 50] == [255, 0, 0]).all()  # 2 px: the minimum
    assert (large[10:15, 400] == [255, 0, 0]).all()  # 800 / 160 = 5 px


def test_draw_boxes_names_bad_input() -> None:
    with pytest.raises(ValueError, match=r"photo must be a uint8 \[H, W, 3\]"):
        render.draw_boxes(np.zeros((4, 4, 3)), np.zeros((1, 4)), render.distinct_colors(1))
    with pytest.raises(ValueError, match="one colour per box"):
        render.draw_boxes(_photo(), np.zeros((3, 4)), render.distinct_colors(2))
    with pytest.raises(ValueError, match="width must be at least 1"):
        render.draw_boxes(_photo(), np.ones((1, 4)), render.distinct_colors(1), width=0)


def test_label_overlay_matches_a_float64_reference() -> None:
    photo = _photo(16, 12)
    labels = np.random.default_rng(1).integers(0, 5, (16, 12))
    colors = render.distinct_colors(5)
    for alpha in (0.0, 0.3, 1.0):
        out = render.label_overlay(photo, labels, colors, alpha=alpha)
        reference = np.empty_like(photo)
        for y in range(16):
            for x in range(12):
                mixed = (1 - alpha) * photo[y, x].astype(np.float64) + alpha * colors[labels[y, x]]
                reference[y, x] = np.clip(np.round(mixed), 0, 255)
        assert np.abs(out.astype(int) - reference.astype(int)).max() <= 1, alpha
    assert np.array_equal(render.label_overlay(photo, labels, colors, alpha=0.0), photo)


def test_label_overlay_names_bad_input() -> None:
    photo, colors = _photo(8, 8), render.distinct_colors(3)
    with pytest.raises(ValueError, match="the size of the photo"):
        render.label_overlay(photo, np.zeros((4, 8), int), colors)
    with pytest.raises(ValueError, match="integer"):
        render.label_overlay(photo, np.zeros((8, 8)), colors)
    with pytest.raises(ValueError, match="class indices"):
        render.label_overlay(photo, np.full((8, 8), -1), colors)
    with pytest.raises(ValueError, match="one colour per label"):
        render.label_overlay(photo, np.full((8, 8), 3), colors)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        render.label_overlay(photo, np.zeros((8, 8), int), colors, alpha=1.5)


def test_label_shares_count_every_label_present_largest_first() -> None:
    labels = np.random.default_rng(2).choice([0, 3, 7, 9], size=(30, 20), p=[0.1, 0.5, 0.3, 0.1])
    shares = render.label_shares(labels)
    values, counts = np.unique(labels, return_counts=True)
    assert sorted(label for label, _ in shares) == values.tolist()
    assert dict(shares) == pytest.approx(
        {int(v): c / labels.size for v, c in zip(values, counts, strict=True)}
    )
    assert [s for _, s in shares] == sorted((s for _, s in shares), reverse=True)
    assert sum(s for _, s in shares) == pytest.approx(1.0)
    assert render.label_shares(np.zeros((0, 3), int)) == []
    with pytest.raises(ValueError, match="non-negative class indices"):
        render.label_shares(np.array([[0.5]]))


# -- instance masks and keypoints -------------------------------------------------------------


def test_fill_masks_blends_each_mask_in_its_colour_and_leaves_the_rest() -> None:
    photo = _photo(20, 30)
    before = photo.copy()
    masks = np.zeros((2, 20, 30), bool)
    masks[0, 2:10, 3:15] = True
    masks[1, 8:18, 12:25] = True  # overlaps mask 0 at rows 8-9, columns 12-14
    colors = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    alpha = 0.4
    drawn = render.fill_masks(photo, masks, colors, alpha=alpha)
    assert np.array_equal(photo, before), "the caller's photo was modified"
    reference = photo.copy()
    for y in range(20):
        for x in range(30):
            owners = [i for i in range(2) if masks[i, y, x]]
            if owners:  # the last mask covering a pixel is the one blended, once
                mixed = (1 - alpha) * photo[y, x].astype(np.float64) + alpha * colors[owners[-1]]
                reference[y, x] = np.round(mixed)
    assert np.abs(drawn.astype(int) - reference.astype(int)).max() <= 1
    outside = ~masks.any(axis=0)
    assert np.array_equal(drawn[outside], photo[outside])
    assert (drawn[9, 13].astype(int) - reference[9, 13]).max() <= 1  # blue over red
    assert np.array_equal(render.fill_masks(photo, masks[:0], colors[:0]), photo)


def test_fill_masks_names_bad_input() -> None:
    photo, colors = _photo(8, 8), render.distinct_colors(2)
    with pytest.raises(ValueError, match=r"masks must be bool \[B, H, W\]"):
        render.fill_masks(photo, np.zeros((2, 8, 8)), colors)  # probabilities: threshold first
    with pytest.raises(ValueError, match="the size of the photo"):
        render.fill_masks(photo, np.zeros((2, 4, 8), bool), colors)
    with pytest.raises(ValueError, match="one colour per mask"):
        render.fill_masks(photo, np.zeros((3, 8, 8), bool), colors)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        render.fill_masks(photo, np.zeros((2, 8, 8), bool), colors, alpha=-0.1)


def _near_segment(height: int, width: int, start, end, reach: float) -> np.ndarray:
    """Pixels whose centre is within ``reach`` of the segment (loops; a dot when start == end)."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    mask = np.zeros((height, width), bool)
    for y in range(height):
        for x in range(width):
            centre = np.array([x + 0.5, y + 0.5])
            step = end - start
            t = 0.0 if not step.any() else np.clip((centre - start) @ step / (step @ step), 0, 1)
            mask[y, x] = np.linalg.norm(centre - (start + t * step)) <= reach
    return mask


def test_draw_keypoints_puts_dots_at_visible_keypoints_and_lines_between_them() -> None:
    photo = _photo(40, 50)
    before = photo.copy()
    points = np.array([[[10.3, 8.7, 1.0], [30.0, 25.2, 2.0], [42.6, 6.1, 0.0], [5.0, 33.0, 1.0]]])
    color = np.array([[0, 255, 0]], np.uint8)
    edges = ((0, 1), (1, 2), (2, 3))  # only 0-1 joins two visible keypoints
    drawn = render.draw_keypoints(photo, points, color, edges=edges, radius=2.5, width=1)
    assert np.array_equal(photo, before), "the caller's photo was modified"
    expected = _near_segment(40, 50, points[0, 0, :2], points[0, 1, :2], np.sqrt(0.5))
    for x, y, _ in points[0, [0, 1, 3]]:
        expected |= _near_segment(40, 50, (x, y), (x, y), 2.5)
        assert (drawn[int(y), int(x)] == color[0]).all()  # the pixel the keypoint lies in
    changed = (drawn != photo).any(axis=2)
    assert np.array_equal(changed, expected & (photo != color[0]).any(axis=2))
    assert (drawn[expected] == color[0]).all()
    # the invisible keypoint: no dot, and neither of its lines
    hidden = _near_segment(40, 50, points[0, 2, :2], points[0, 2, :2], 2.5)
    for other in (1, 3):
        hidden |= _near_segment(40, 50, points[0, 2, :2], points[0, other, :2], np.sqrt(0.5))
    assert (hidden & ~expected).sum() > 40 and not changed[hidden & ~expected].any()


def test_draw_keypoints_clips_and_skips_what_it_cannot_draw() -> None:
    photo = _photo(20, 20)
    points = np.array(
        [
            [[-1.0, 5.0, 1.0], [np.nan, 4.0, 1.0]],  # a dot partly outside; not finite: skipped
            [[19.9, 19.9, 1.0], [100.0, 100.0, 1.0]],  # a corner dot; wholly outside
        ]
    )
    colors = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    drawn = render.draw_keypoints(photo, points, colors, edges=((0, 1),), radius=2.0, width=1)
    expected = _near_segment(20, 20, (-1.0, 5.0), (-1.0, 5.0), 2.0)
    corner = _near_segment(20, 20, (19.9, 19.9), (19.9, 19.9), 2.0)
    corner |= _near_segment(20, 20, (19.9, 19.9), (100.0, 100.0), np.sqrt(0.5))
    assert (drawn[expected] == colors[0]).all() and (drawn[corner] == colors[1]).all()
    changed = (drawn != photo).any(axis=2)
    assert np.array_equal(changed, (expected | corner) & changed)
    empty = render.draw_keypoints(photo, np.zeros((0, 17, 3)), np.zeros((0, 3), np.uint8))
    assert np.array_equal(empty, photo)


def test_draw_keypoints_names_bad_input() -> None:
    photo, colors = _photo(8, 8), render.distinct_colors(1)
    with pytest.raises(ValueError, match=r"keypoints must be \[B, K, 3\]"):
        render.draw_keypoints(photo, np.zeros((1, 4, 2)), colors)
    with pytest.raises(ValueError, match="one colour per instance"):
        render.draw_keypoints(photo, np.zeros((2, 4, 3)), colors)
    with pytest.raises(ValueError, match="radius and width must be positive"):
        render.draw_keypoints(photo, np.zeros((1, 4, 3)), colors, radius=0)


def test_the_coco_person_skeleton_joins_every_keypoint_once_per_limb() -> None:
    names, limbs = render.COCO_PERSON_KEYPOINTS, render.COCO_PERSON_SKELETON
    assert len(names) == 17 and names[0] == "nose" and names[-1] == "right_ankle"
    assert len(limbs) == 19 and len(set(map(frozenset, limbs))) == 19
    assert {index for limb in limbs for index in limb} == set(range(17))
    named = {frozenset((names[a], names[b])) for a, b in limbs}
    for side in ("left", "right"):  # each arm and leg is a chain, each side's torso a line
        for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"),
                     ("knee", "ankle"), ("shoulder", "hip")):  # fmt: skip
            assert frozenset((f"{side}_{a}", f"{side}_{b}")) in named
    assert frozenset(("left_wrist", "right_wrist")) not in named
