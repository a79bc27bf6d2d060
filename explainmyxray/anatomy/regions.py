"""The 26 anatomical regions of a frontal chest radiograph that findings are grounded to.

The set follows Chest ImaGenome's bounding-box regions, trimmed to what a frontal film shows and a
report names: per side the whole lung, its four zones (apical, upper, middle, lower), the hilum,
the costophrenic and cardiophrenic angles, the hemidiaphragm and the clavicle; in the midline the
trachea, upper mediastinum, aortic knob, cardiac silhouette, spine and the upper abdomen under the
diaphragm.

``side`` is the *patient's* side. On a PA (and the usual AP) film the patient's right is on the
image's left, so ``right_*`` regions lie at small x and ``left_*`` regions at large x.
Zones overlap on purpose: the apical zone is the top of the upper zone, and every zone is part of
its lung.

Colours are saturated, with CIE L* between 50 and 92 and chroma of at least 40, so that each reads
on the gray of a radiograph; any two differ by at least 26 in CIELAB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["right", "left", "midline"]


@dataclass(frozen=True)
class RegionDef:
    """One anatomical region: stable id, display name, patient side and overlay colour."""

    id: str
    name: str
    side: Side
    color: str


_PER_SIDE: tuple[tuple[str, str], ...] = (
    ("lung", "lung"),
    ("apical_zone", "apical zone"),
    ("upper_zone", "upper zone"),
    ("mid_zone", "middle zone"),
    ("lower_zone", "lower zone"),
    ("hilum", "hilum"),
    ("costophrenic_angle", "costophrenic angle"),
    ("cardiophrenic_angle", "cardiophrenic angle"),
    ("hemidiaphragm", "hemidiaphragm"),
    ("clavicle", "clavicle"),
)

# Cool hues for the patient's right, warm hues for the left, magentas for the midline.
_RIGHT_COLORS = (
    "#337aff", "#33d6ff", "#00ccb8", "#00ffb3", "#29cc41",
    "#8b59ff", "#0085cc", "#8acc66", "#00ff00", "#8a66cc",
)  # fmt: skip
_LEFT_COLORS = (
    "#ff5900", "#ffe500", "#ffb200", "#cc9e47", "#cc7000",
    "#ff0059", "#ffa680", "#e6e073", "#ace600", "#cc4e47",
)  # fmt: skip

_MIDLINE: tuple[tuple[str, str, str], ...] = (
    ("trachea", "trachea", "#df80ff"),
    ("upper_mediastinum", "upper mediastinum", "#cc6699"),
    ("aortic_knob", "aortic knob", "#ff0026"),
    ("cardiac_silhouette", "cardiac silhouette", "#ff00bf"),
    ("spine", "thoracic spine", "#cc00ff"),
    ("upper_abdomen", "upper abdomen (below the diaphragm)", "#e62e81"),
)


def _build() -> tuple[RegionDef, ...]:
    regions: list[RegionDef] = []
    for side, colors in (("right", _RIGHT_COLORS), ("left", _LEFT_COLORS)):
        for (key, name), color in zip(_PER_SIDE, colors, strict=True):
            regions.append(RegionDef(f"{side}_{key}", f"{side} {name}", side, color))  # type: ignore[arg-type]
    regions.extend(RegionDef(rid, name, "midline", color) for rid, name, color in _MIDLINE)
    return tuple(regions)


REGIONS: tuple[RegionDef, ...] = _build()
"""All regions in canonical order: right side, left side, midline."""

REGION_IDS: tuple[str, ...] = tuple(r.id for r in REGIONS)
_BY_ID: dict[str, RegionDef] = {r.id: r for r in REGIONS}


def region(region_id: str) -> RegionDef:
    """The definition of one region; raises ``KeyError`` naming the known ids if unknown."""
    try:
        return _BY_ID[region_id]
    except KeyError:
        raise KeyError(f"unknown region {region_id!r} (known: {', '.join(REGION_IDS)})") from None


def regions_on_side(side: Side) -> list[RegionDef]:
    """The regions of one side (``"right"``, ``"left"`` or ``"midline"``), in canonical order."""
    return [r for r in REGIONS if r.side == side]
