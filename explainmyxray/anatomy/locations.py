"""PadChest location labels (``loc ...``) mapped to the anatomical regions of :mod:`.regions`.

The table lives in ``padchest_locations.json`` next to this module: each of PadChest's 104 location
labels maps to one or more region ids, and says which side it carries itself (``left``, ``right``,
``bilateral`` or none).

How the locations of one finding combine (:func:`regions_for_locations`):

1. The laterality words ``loc left``, ``loc right`` and ``loc bilateral`` name sides, not places.
   Labels that carry a side themselves (``loc left lower lobe``, ``loc basal bilateral``) add their
   side too. ``bilateral`` means both sides; the sides named by a finding are their union, so
   ``["loc right", "loc bilateral"]`` (PadChest writes that for "effusion on both sides") is both.
2. Every other label contributes its regions. A label without a side of its own keeps only the
   regions on the named sides plus midline ones: ``["loc left", "loc basal"]`` is the intersection
   of "left" with "both lower zones", i.e. ``left_lower_zone``; ``["loc left", "loc cardiac"]``
   keeps the (midline) cardiac silhouette. If the filter would leave a label with nothing
   (``["loc left", "loc minor fissure"]``, a right-only structure), the label's own regions are
   kept: the more specific word wins over a contradicting side.
3. A finding with laterality words only maps to the lungs of those sides.
4. Unknown labels are skipped (or raise :class:`UnknownLocationError` with ``strict=True``).

The result is in the canonical region order, without duplicates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from ..core.errors import ExplainMyXrayError
from .regions import REGION_IDS, region

LocationSide = Literal["left", "right", "bilateral"]

_DATA_FILE = "padchest_locations.json"
_SIDES_OF: dict[str, frozenset[str]] = {
    "left": frozenset({"left"}),
    "right": frozenset({"right"}),
    "bilateral": frozenset({"left", "right"}),
}


class UnknownLocationError(ExplainMyXrayError, KeyError):
    """A location label is not one of PadChest's ``loc ...`` labels."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class LocationMapping:
    """Where one PadChest location label lies: its regions and the side it carries, if any."""

    label: str
    regions: tuple[str, ...]
    side: LocationSide | None = None
    note: str | None = None


@cache
def _table() -> tuple[dict[str, LocationMapping], frozenset[str]]:
    text = resources.files(__package__).joinpath(_DATA_FILE).read_text(encoding="utf-8")
    data = json.loads(text)
    table: dict[str, LocationMapping] = {}
    for label, entry in data["locations"].items():
        for rid in entry["regions"]:
            region(rid)  # raises on a typo in the data file
        table[label] = LocationMapping(
            label, tuple(entry["regions"]), entry.get("side"), entry.get("note")
        )
    return table, frozenset(data["laterality_words"])


def normalize_location(label: str) -> str:
    """``"Left lower lobe"`` → ``"loc left lower lobe"`` (lower case, single spaces, prefix)."""
    text = " ".join(label.lower().split())
    return text if text.startswith("loc ") else f"loc {text}"


def location_table() -> dict[str, LocationMapping]:
    """All known PadChest location labels and their mappings (a copy)."""
    return dict(_table()[0])


def location_regions(label: str) -> tuple[str, ...]:
    """The regions of one location label on its own; raises :class:`UnknownLocationError`."""
    key = normalize_location(label)
    try:
        return _table()[0][key].regions
    except KeyError:
        raise UnknownLocationError(
            f"unknown PadChest location {label!r} (expected a 'loc ...' label, e.g. 'loc basal')"
        ) from None


def regions_for_locations(locations: Sequence[str], *, strict: bool = False) -> list[str]:
    """The region ids that the PadChest locations of one finding point to, combined as above."""
    table, laterality_words = _table()
    known: list[LocationMapping] = []
    for label in locations:
        mapping = table.get(normalize_location(label))
        if mapping is None:
            if strict:
                location_regions(label)  # raises with the message
            continue
        known.append(mapping)

    sides: set[str] = set()
    for mapping in known:
        if mapping.side is not None:
            sides |= _SIDES_OF[mapping.side]

    places = [m for m in known if m.label not in laterality_words]
    chosen: set[str] = set()
    if not places:
        chosen = {f"{side}_lung" for side in sides}
    for mapping in places:
        regions = mapping.regions
        if sides and mapping.side is None:
            kept = tuple(r for r in regions if region(r).side in sides | {"midline"})
            regions = kept or regions
        chosen.update(regions)
    return [rid for rid in REGION_IDS if rid in chosen]


_PLACES_FILE = "finding_places.json"


@dataclass(frozen=True)
class FindingPlace:
    """Where a finding lies by its nature: PadChest locations, and why (``note``)."""

    label: str
    locations: tuple[str, ...]
    note: str


@cache
def finding_places() -> dict[str, FindingPlace]:
    """The default place of every PadChest finding and diagnosis (``finding_places.json``)."""
    text = resources.files(__package__).joinpath(_PLACES_FILE).read_text(encoding="utf-8")
    table = _table()[0]
    places: dict[str, FindingPlace] = {}
    for label, entry in json.loads(text)["findings"].items():
        unknown = [loc for loc in entry["locations"] if loc not in table]
        if unknown:
            raise ValueError(f"{_PLACES_FILE}: {label!r} names unknown locations {unknown}")
        places[label] = FindingPlace(label, tuple(entry["locations"]), entry["note"])
    return places


def implied_locations(finding: str) -> tuple[str, ...]:
    """The PadChest locations a finding's own nature implies (empty when it names none)."""
    place = finding_places().get(" ".join(finding.lower().split()))
    return place.locations if place is not None else ()


def is_side(location: str) -> bool:
    """Whether a location label names only a side (``loc left``, ``right``, ``bilateral``)."""
    return normalize_location(location) in _table()[1]


def side_of(location: str) -> str | None:
    """The laterality word (``loc left``...) a location label carries, if any."""
    mapping = _table()[0].get(normalize_location(location))
    return f"loc {mapping.side}" if mapping is not None and mapping.side else None


def is_whole_lung(location: str) -> bool:
    """Whether a location label names no place finer than a whole lung (``loc pleural``)."""
    mapping = _table()[0].get(normalize_location(location))
    return mapping is not None and set(mapping.regions) <= {"right_lung", "left_lung"}


def grounding_locations(finding: str, locations: Sequence[str]) -> tuple[list[str], bool]:
    """The locations that ground a finding: the report's own, or its side and its own place.

    The report's places win when they are finer than a whole lung ("left lower lobe", "left
    costophrenic angle"). Otherwise the finding's default place is used on the sides the report
    names: "small left pleural effusion" is the left costophrenic angle and lower zone,
    "elevated right hemidiaphragm" the right hemidiaphragm, "bilateral hilar enlargement" both
    hila. A finding that can lie anywhere in a lung has no finer place than the report's own.
    Returns the locations and whether the default place was used.
    """
    places = [loc for loc in locations if not is_side(loc)]
    default = implied_locations(finding)
    if any(not is_whole_lung(loc) for loc in places) or not default:
        return list(locations), False
    if all(is_whole_lung(loc) and not is_side(loc) for loc in default):
        # "anywhere in a lung" adds nothing to the report's own words: a nodule the report
        # gives no side stays unplaced rather than boxed on both lungs.
        return list(locations), False
    sides = [loc for loc in locations if is_side(loc)]
    return [*sides, *default], True
