from __future__ import annotations

import json
from importlib import resources

import pytest

from explainmyxray.anatomy.regions import REGIONS
from explainmyxray.interop import coding


def padchest_labels() -> list[str]:
    text = resources.files("explainmyxray.report.data").joinpath("padchest_ontology.json")
    data = json.loads(text.read_text())
    return [t["label"] for kind in ("findings", "diagnoses") for t in data[kind]]


def test_every_region_has_its_own_site_and_comes_back_from_it():
    keys = [coding.site_code(r).key for r in REGIONS]
    assert len(set(keys)) == len(REGIONS) == 26
    for r in REGIONS:
        site = coding.site_code(r)
        assert coding.region_from_site(*site.key) == r.id
        if r.side == "midline":
            assert site.laterality is None
        else:
            assert site.laterality == coding.LATERALITY[r.side]


def test_sides_use_snomed_laterality_and_structures():
    right_zone = next(r for r in REGIONS if r.id == "right_upper_zone")
    site = coding.site_code(right_zone)
    assert (site.location.value, site.location.scheme_designator) == ("39607008", "SCT")  # lung
    assert site.laterality.value == "24028007"  # right
    assert (site.modifier.value, site.modifier.scheme_designator) == ("upper_zone", "99EMXR")


def test_every_padchest_label_gets_a_code_that_reads_back_to_it():
    labels = padchest_labels()
    assert len(labels) > 170
    snomed = 0
    for label in labels:
        code = coding.finding_code(label)
        assert coding.finding_label(code.value, code.scheme_designator) == label
        snomed += code.scheme_designator == "SCT"
    assert snomed == len(coding._DICOM_SNOMED_FINDINGS) + len(coding.EXTRA_SNOMED)


@pytest.mark.parametrize(
    ("label", "value"),
    [("cardiomegaly", "287272002"), ("pleural effusion", "60046008"), ("atelectasis", "46621007")],
)
def test_common_findings_are_snomed(label, value):
    code = coding.finding_code(label)
    assert (code.value, code.scheme_designator) == (value, "SCT")


def test_unknown_finding_uses_the_project_scheme():
    code = coding.finding_code("Aortic Elongation")
    assert (code.value, code.scheme_designator, code.scheme_version) == (
        "aortic elongation",
        "99EMXR",
        "1.0",
    )
    assert coding.finding_label("123", "SCT") is None


def test_statuses_round_trip():
    for status, code in coding.STATUS_CODES.items():
        assert coding.status_from_code(code.value, code.scheme_designator) == status
