"""The 26 regions derived from lung and heart masks (drawn masks, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from explainmyxray.anatomy.geometry import derive_regions
from explainmyxray.core.case import Box

from .ordering import assert_anatomical_order, assert_regions_inside_and_complete
from .synthetic import chest, ellipse


def _masks(height: int = 360, width: int = 400):
    _, right, left = chest(height, width)
    heart = ellipse((height, width), width * 0.55, height * 0.68, width * 0.16, height * 0.12)
    return right, left, heart


def test_all_regions_inside_the_image_in_anatomical_order() -> None:
    right, left, heart = _masks()
    regions = derive_regions(right, left, heart, methods={"right_lung": "drawn"})
    assert_regions_inside_and_complete(regions, 400, 360)
    assert_anatomical_order(regions)
    by = {r.id: r for r in regions}
    assert by["right_lung"].method == "drawn"
    assert np.array_equal(by["right_lung"].mask, right)
    assert not (by["cardiac_silhouette"].mask & (right | left)).any()


def test_zones_partition_each_lung() -> None:
    right, left, heart = _masks()
    by = {r.id: r for r in derive_regions(right, left, heart)}
    for side, lung in (("right", right), ("left", left)):
        zones = [by[f"{side}_{z}"].mask for z in ("upper_zone", "mid_zone", "lower_zone")]
        assert sum(z.astype(int) for z in zones).max() == 1
        assert np.array_equal(zones[0] | zones[1] | zones[2], lung)
        apical = by[f"{side}_apical_zone"].mask
        assert apical.any() and not (apical & ~zones[0]).any()


def test_without_a_heart_mask_the_prompt_box_stands_in() -> None:
    right, left, _ = _masks()
    box = Box(x0=150, y0=200, x1=260, y1=300)
    by = {r.id: r for r in derive_regions(right, left, None, heart_box=box)}
    assert by["cardiac_silhouette"].box == box
    assert by["cardiac_silhouette"].mask is None
    assert "geometry" in by["cardiac_silhouette"].method


def test_masks_can_be_left_out() -> None:
    right, left, heart = _masks()
    regions = derive_regions(right, left, heart, keep_masks=False)
    assert all(r.mask is None for r in regions)
    assert all(r.area_px > 0 for r in regions)


def test_an_empty_lung_mask_is_an_error() -> None:
    right, left, heart = _masks()
    with pytest.raises(ValueError, match="lung mask is empty"):
        derive_regions(right, np.zeros_like(left), heart)
