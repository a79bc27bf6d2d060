"""Checks that a set of 26 regions is laid out like a frontal chest radiograph (PA view)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from explainmyxray.anatomy.regions import REGION_IDS
from explainmyxray.core.case import Region


def centre(region: Region) -> tuple[float, float]:
    return (region.box.x0 + region.box.x1) / 2, (region.box.y0 + region.box.y1) / 2


def assert_regions_inside_and_complete(regions: Sequence[Region], width: int, height: int) -> None:
    assert [r.id for r in regions] == list(REGION_IDS)
    for r in regions:
        assert 0 <= r.box.x0 < r.box.x1 <= width, r
        assert 0 <= r.box.y0 < r.box.y1 <= height, r
        assert r.area_px > 0, r.id
        if r.mask is not None:
            assert r.mask.shape == (height, width) and r.mask.dtype == np.bool_, r.id
            ys, xs = np.nonzero(r.mask)
            assert xs.min() >= r.box.x0 and xs.max() < r.box.x1, r.id
            assert ys.min() >= r.box.y0 and ys.max() < r.box.y1, r.id


def assert_anatomical_order(regions: Sequence[Region]) -> None:
    """PA convention: the patient's right is on the image's left; head up."""
    by = {r.id: r for r in regions}
    x = {k: centre(v)[0] for k, v in by.items()}
    y = {k: centre(v)[1] for k, v in by.items()}
    paired = {r.id.removeprefix("right_") for r in regions if r.id.startswith("right_")}
    for part in paired:
        assert x[f"right_{part}"] < x[f"left_{part}"], part
    for side in ("right", "left"):
        assert y[f"{side}_apical_zone"] < y[f"{side}_upper_zone"] < y[f"{side}_mid_zone"]
        assert y[f"{side}_mid_zone"] < y[f"{side}_lower_zone"] < y[f"{side}_hemidiaphragm"]
        assert y[f"{side}_clavicle"] < y[f"{side}_hilum"] < y[f"{side}_costophrenic_angle"]
        lung = by[f"{side}_lung"].box
        assert lung.x0 <= x[f"{side}_hilum"] <= lung.x1 + 0.2 * lung.width
    # costophrenic angles are lateral to cardiophrenic angles
    assert x["right_costophrenic_angle"] < x["right_cardiophrenic_angle"]
    assert x["left_cardiophrenic_angle"] < x["left_costophrenic_angle"]
    for mid in ("trachea", "spine", "upper_mediastinum", "cardiac_silhouette"):
        assert x["right_lung"] < x[mid] < x["left_lung"], mid
    # The knob is on the patient's left of the trachea (image right), beside it, not over it.
    assert by["aortic_knob"].box.x0 >= by["trachea"].box.x1 - 1, (by["aortic_knob"], by["trachea"])
    assert by["aortic_knob"].box.x1 <= by["left_lung"].box.x0 + 0.5 * by["left_lung"].box.width
    assert by["left_lung"].box.y0 <= y["aortic_knob"] <= y["left_hilum"]
    assert y["trachea"] < y["cardiac_silhouette"]
    assert y["upper_mediastinum"] < y["cardiac_silhouette"]
    assert y["aortic_knob"] < y["cardiac_silhouette"]
    assert y["upper_abdomen"] > max(y["right_lower_zone"], y["left_lower_zone"])
