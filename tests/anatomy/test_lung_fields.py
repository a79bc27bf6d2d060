"""Lung-field boxes found by image analysis, and the fall-backs when a lung cannot be found."""

from __future__ import annotations

import numpy as np
import pytest

from explainmyxray.anatomy.lung_fields import find_lung_fields, otsu_threshold, pair_lungs

from .synthetic import chest


def _iou(box, mask: np.ndarray) -> float:
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    ix = max(0.0, min(box.x1, x1) - max(box.x0, x0))
    iy = max(0.0, min(box.y1, y1) - max(box.y0, y0))
    inter = ix * iy
    return inter / (box.area + (x1 - x0) * (y1 - y0) - inter)


def test_otsu_splits_two_populations() -> None:
    values = np.concatenate([np.full(100, 0.2), np.full(100, 0.8)])
    assert 0.2 < otsu_threshold(values) < 0.8


def test_both_lungs_are_detected_on_their_sides() -> None:
    pixels, right, left = chest()
    fields = find_lung_fields(pixels)
    assert fields.right.source == fields.left.source == "detected"
    assert _iou(fields.right.box, right) > 0.8
    assert _iou(fields.left.box, left) > 0.8
    assert fields.right.box.x1 <= fields.left.box.x0


def test_boxes_are_in_original_pixels_whatever_the_size() -> None:
    small, _, _ = chest(180, 200)
    large, right, _ = chest(900, 1000)
    box_small = find_lung_fields(small).right.box
    box_large = find_lung_fields(large).right.box
    assert _iou(box_large, right) > 0.8
    assert box_large.x0 == pytest.approx(box_small.x0 * 5, abs=15)
    assert box_large.y1 == pytest.approx(box_small.y1 * 5, abs=15)


def test_a_white_lung_is_mirrored_from_the_other() -> None:
    pixels, _, left = chest(left_lung=False)
    fields = find_lung_fields(pixels)
    assert fields.right.source == "detected"
    assert fields.left.source == "mirrored"
    assert _iou(fields.left.box, left) > 0.6


def test_an_image_without_lungs_gets_the_prior_layout() -> None:
    pixels = np.full((300, 260), 0.5, np.float32)
    fields = find_lung_fields(pixels)
    assert fields.right.source == fields.left.source == "prior"
    assert fields.right.box.x1 <= fields.left.box.x0
    for box in (fields.right.box, fields.left.box):
        assert 0 <= box.x0 < box.x1 <= 260 and 0 <= box.y0 < box.y1 <= 300


def test_rejects_images_that_are_not_2d() -> None:
    with pytest.raises(ValueError, match="2-D image"):
        find_lung_fields(np.zeros((10, 10, 3), np.float32))


def test_pairing_lengthens_a_left_lung_that_stops_short_beside_the_heart() -> None:
    right, left = (10.0, 20.0, 50.0, 120.0), (60.0, 22.0, 100.0, 90.0)
    paired = pair_lungs(right, left)
    assert paired["right"] == right
    assert paired["left"] == (60.0, 22.0, 100.0, pytest.approx(120.0 - 0.02 * 100))
    # an apex lost to the air around the neck is raised to its partner's; boxes never shrink
    low_apex = pair_lungs(right, (60.0, 45.0, 100.0, 122.0))
    assert low_apex["left"][1] == 20.0 and low_apex["left"][3] == 122.0
    # the right hemidiaphragm may lie a little higher than the left without any change
    assert pair_lungs((10.0, 20.0, 50.0, 114.0), (60.0, 20.0, 100.0, 120.0))["right"][3] == 114.0


@pytest.mark.parametrize("layout", ["off_centre", "wide_field"])
def test_a_real_radiograph_off_centre_or_with_a_collimated_border_is_found(
    jsrt_dir, layout
) -> None:
    """A patient off-centre on a landscape detector, or a wide field with a dark collimated
    border: the boxes are found on the image's content, where they are without the border."""
    from PIL import Image

    pixels = np.asarray(Image.open(jsrt_dir / "1.jpg").convert("L"), np.float32) / 255
    h, w = pixels.shape
    shape, (y, x) = ((h, int(1.3 * w)), (0, w // 4))
    if layout == "wide_field":
        shape, (y, x) = ((int(1.35 * h), int(1.2 * w)), (int(0.05 * h), w // 10))
    canvas = np.full(shape, 0.05, np.float32)
    canvas[y : y + h, x : x + w] = pixels
    plain, placed = find_lung_fields(pixels), find_lung_fields(canvas)
    for side in ("right", "left"):
        a, b = getattr(plain, side).box, getattr(placed, side).box
        assert getattr(placed, side).source == "detected"
        for got, want in ((b.x0, a.x0 + x), (b.x1, a.x1 + x), (b.y0, a.y0 + y), (b.y1, a.y1 + y)):
            assert got == pytest.approx(want, abs=0.04 * w), (side, a, b)
