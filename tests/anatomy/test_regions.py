"""The 26 anatomical regions: ids, sides and overlay colours."""

from __future__ import annotations

import itertools
import re

import pytest

from explainmyxray.anatomy.regions import REGION_IDS, REGIONS, region, regions_on_side


def _lab(hex_color: str) -> tuple[float, float, float]:
    """sRGB hex → CIELAB (D65), enough to compare colours perceptually."""
    rgb = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def test_exactly_26_regions_with_unique_ids_and_names() -> None:
    assert len(REGIONS) == 26
    assert len(set(REGION_IDS)) == 26
    assert len({r.name for r in REGIONS}) == 26


def test_paired_regions_exist_on_both_sides() -> None:
    right = {r.id.removeprefix("right_") for r in regions_on_side("right")}
    left = {r.id.removeprefix("left_") for r in regions_on_side("left")}
    assert right == left
    assert {"lung", "apical_zone", "upper_zone", "mid_zone", "lower_zone", "hilum"} <= right
    assert {"costophrenic_angle", "hemidiaphragm", "clavicle"} <= right
    midline = {r.id for r in regions_on_side("midline")}
    assert {"cardiac_silhouette", "trachea", "spine", "aortic_knob"} <= midline
    assert all(r.id.startswith(f"{r.side}_") for r in REGIONS if r.side != "midline")


def test_colours_are_distinct_hex_and_readable_on_gray() -> None:
    for r in REGIONS:
        assert re.fullmatch(r"#[0-9a-f]{6}", r.color), r
        lightness, a, b = _lab(r.color)
        assert 50 <= lightness <= 95, (r.id, lightness)
        assert (a * a + b * b) ** 0.5 >= 40, (r.id, "too gray to read on a radiograph")
    labs = {r.id: _lab(r.color) for r in REGIONS}
    for (i, p), (j, q) in itertools.combinations(labs.items(), 2):
        distance = sum((u - v) ** 2 for u, v in zip(p, q, strict=True)) ** 0.5
        assert distance >= 20, (i, j, distance)


def test_lookup_by_id_and_unknown_id() -> None:
    assert region("left_hilum").side == "left"
    with pytest.raises(KeyError, match="unknown region 'left_knee'"):
        region("left_knee")
