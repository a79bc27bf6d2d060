"""PadChest location labels → anatomical regions, and how the locations of one finding combine."""

from __future__ import annotations

import pytest

from explainmyxray.anatomy.locations import (
    UnknownLocationError,
    location_regions,
    location_table,
    regions_for_locations,
)
from explainmyxray.anatomy.regions import REGION_IDS, region
from explainmyxray.report.ontology import load_ontology


def test_every_padchest_location_maps_to_known_regions() -> None:
    labels = set(load_ontology().locations)
    assert len(labels) == 104
    table = location_table()
    assert set(table) == labels, {"unmapped": labels - set(table), "extra": set(table) - labels}
    for label in labels:
        regions = location_regions(label)
        assert regions, label
        assert all(r in REGION_IDS for r in regions), label
        assert regions_for_locations([label]), label


def test_sided_labels_only_name_regions_of_their_side() -> None:
    for label, mapping in location_table().items():
        if mapping.side in ("left", "right"):
            other = "right" if mapping.side == "left" else "left"
            assert all(region(r).side != other for r in mapping.regions), label


@pytest.mark.parametrize(
    ("locations", "expected"),
    [
        (["loc left", "loc basal"], ["left_lower_zone"]),
        (["loc basal", "loc right"], ["right_lower_zone"]),
        (["loc basal"], ["right_lower_zone", "left_lower_zone"]),
        (["loc left"], ["left_lung"]),
        (["loc bilateral"], ["right_lung", "left_lung"]),
        (["loc right", "loc bilateral", "loc pleural"], ["right_lung", "left_lung"]),
        (["loc right", "loc costophrenic angle"], ["right_costophrenic_angle"]),
        (["loc left", "loc hilar"], ["left_hilum"]),
        (["loc left", "loc cardiac"], ["cardiac_silhouette"]),
        (["loc left", "loc apical", "loc pleural"], ["left_apical_zone", "left_lung"]),
        (["loc left costophrenic angle", "loc pleural"], ["left_costophrenic_angle", "left_lung"]),
        (
            ["loc right upper lobe", "loc left lower lobe"],
            ["right_upper_zone", "left_lower_zone"],
        ),
    ],
)
def test_laterality_combines_with_places(locations: list[str], expected: list[str]) -> None:
    got = regions_for_locations(locations)
    assert sorted(got, key=REGION_IDS.index) == got
    assert set(got) == set(expected)


def test_a_contradicting_side_does_not_erase_a_one_sided_structure() -> None:
    assert regions_for_locations(["loc left", "loc minor fissure"]) == ["right_mid_zone"]


def test_labels_are_normalised_and_unknown_ones_skipped_or_rejected() -> None:
    assert regions_for_locations(["Left", "  BASAL "]) == ["left_lower_zone"]
    assert regions_for_locations(["loc elbow", "loc cardiac"]) == ["cardiac_silhouette"]
    assert regions_for_locations([]) == []
    with pytest.raises(UnknownLocationError, match="loc elbow"):
        regions_for_locations(["loc elbow"], strict=True)


def test_every_padchest_finding_has_a_documented_default_place():
    from explainmyxray.anatomy.locations import finding_places, implied_locations
    from explainmyxray.report.ontology import load_ontology

    ontology = load_ontology()
    places = finding_places()
    assert set(places) == {*ontology.findings, *ontology.diagnoses}
    for place in places.values():
        assert all(loc in ontology.locations for loc in place.locations), place
        assert place.note
    assert implied_locations("Cardiomegaly") == ("loc cardiac",)
    assert implied_locations("nodule") == ("loc lung field",)
    assert implied_locations("no such finding") == ()


@pytest.mark.parametrize(
    ("finding", "locations", "expected"),
    [
        # issue 13: side + finding went to the whole lung
        ("hilar enlargement", ["loc right"], ["right_hilum"]),
        ("pleural effusion", ["loc left"], ["left_lower_zone", "left_costophrenic_angle"]),
        (
            "pleural effusion",
            ["loc left", "loc pleural"],
            ["left_lower_zone", "left_costophrenic_angle"],
        ),
        ("hemidiaphragm elevation", ["loc right"], ["right_hemidiaphragm"]),
        ("clavicle fracture", ["loc right"], ["right_clavicle"]),
        ("apical pleural thickening", ["loc left"], ["left_apical_zone"]),
        ("atelectasis basal", ["loc left"], ["left_lower_zone"]),
        # findings whose name is anatomy
        ("scoliosis", [], ["spine"]),
        ("tracheal shift", [], ["trachea"]),
        ("pneumoperitoneo", [], ["upper_abdomen"]),
        ("calcified adenopathy", [], ["right_hilum", "left_hilum"]),
        ("flattened diaphragm", [], ["right_hemidiaphragm", "left_hemidiaphragm"]),
        ("mediastinal enlargement", [], ["upper_mediastinum"]),
        ("hilar enlargement", ["loc bilateral"], ["right_hilum", "left_hilum"]),
        # the report's own place wins when it is finer than a lung
        ("pneumonia", ["loc left lower lobe"], ["left_lower_zone"]),
        ("nodule", ["loc right"], ["right_lung"]),
    ],
)
def test_grounding_combines_the_findings_own_place_with_the_side(
    finding: str, locations: list[str], expected: list[str]
) -> None:
    from explainmyxray.anatomy.locations import grounding_locations

    got = regions_for_locations(grounding_locations(finding, locations)[0])
    assert set(got) == set(expected)


def test_the_default_place_table_in_docs_is_current():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "finding_places_doc.py"
    spec = importlib.util.spec_from_file_location("finding_places_doc", script)
    assert spec is not None and spec.loader is not None
    doc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(doc)
    assert doc.main(["--check"]) == 0
