"""Lung-field boxes found by image analysis, and the fall-backs when a lung cannot be found."""

from __future__ import annotations

import numpy as np
import pytest

from explainmyxray.anatomy.lung_fields import find_lung_fields, otsu_threshold

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
