"""Codes for findings, anatomical regions and statuses in DICOM SR and SEG objects.

Standard codes come from DICOM's own tables (PS3.16, as shipped in ``pydicom.sr.codedict``), so
every SNOMED CT code written here is one the DICOM standard publishes; a few more SNOMED CT codes
for common chest findings are listed in :data:`EXTRA_SNOMED`. Every other PadChest finding, and
the parts of the anatomy no standard code names (lung zones, costophrenic and cardiophrenic
angles), use the project's coding scheme ``99EMXR`` (a private scheme: the ``99`` prefix is
reserved for them by PS3.16 8.2): its code values are the PadChest labels and region ids
themselves. ``docs/dicom-coding.md`` documents the scheme.

A finding site is written the DICOM way (TID 1500 ``Finding Site``): an anatomic location,
a laterality (right/left) and, where the region is part of a structure (the upper zone of the
right lung), a topographical modifier from the project scheme. :func:`region_from_site` turns the
three back into the region id.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from ..anatomy.regions import REGIONS, RegionDef

PROJECT_SCHEME = "99EMXR"
PROJECT_SCHEME_VERSION = "1.0"
PROJECT_SCHEME_NAME = "ExplainMyXray findings and chest regions"

# PadChest finding label -> keyword of a SNOMED CT code in DICOM's code tables
_DICOM_SNOMED_FINDINGS: dict[str, str] = {
    "cardiomegaly": "Cardiomegaly",
    "pleural effusion": "PleuralEffusion",
    "pneumothorax": "Pneumothorax",
    "pulmonary edema": "PulmonaryEdema",
    "nodule": "Nodule",
    "pulmonary mass": "Mass",
    "pulmonary fibrosis": "Fibrosis",
    "pneumomediastinum": "Pneumomediastinum",
    "pericardial effusion": "PericardialEffusion",
    "endotracheal tube": "EndotrachealTube",
    "pacemaker": "CardiacPacemaker",
    "laminar atelectasis": "PlateLikeAtelectasis",
}

EXTRA_SNOMED: dict[str, tuple[str, str]] = {
    "atelectasis": ("46621007", "Atelectasis"),
    "pneumonia": ("233604007", "Pneumonia"),
    "emphysema": ("87433001", "Pulmonary emphysema"),
    "bronchiectasis": ("12295008", "Bronchiectasis"),
    "copd signs": ("13645005", "Chronic obstructive lung disease"),
}
"""PadChest label -> SNOMED CT (code, meaning) for common findings DICOM's tables lack."""

PRESENCE = Code("705057003", "SCT", "Presence")
STATUS_CODES: dict[str, Code] = {
    "present": codes.SCT.Present,
    "absent": codes.SCT.Absent,
    "uncertain": codes.SCT.Equivocal,
}
"""A finding's status as the value of the ``Presence`` qualitative evaluation."""

PROCEDURE_CHEST_RADIOGRAPH = Code("399208008", "SCT", "Plain chest X-ray")
FINDING_TEXT = codes.DCM.Finding
IMPRESSION_TEXT = codes.DCM.Impression
REPORT_TEXT = Code("C0034375", "UMLS", "Qualitative Evaluations")
ANATOMICAL_STRUCTURE = codes.SCT.AnatomicalStructure
FINDING_CATEGORY = codes.SCT.Finding

LATERALITY: dict[str, Code] = {"right": codes.SCT.Right, "left": codes.SCT.Left}

# region key (without side) -> (structure keyword in DICOM's SNOMED table, part of it or None)
_REGION_STRUCTURES: dict[str, tuple[str, str | None]] = {
    "lung": ("Lung", None),
    "apical_zone": ("Lung", "apical_zone"),
    "upper_zone": ("Lung", "upper_zone"),
    "mid_zone": ("Lung", "mid_zone"),
    "lower_zone": ("Lung", "lower_zone"),
    "hilum": ("HilumOfLung", None),
    "costophrenic_angle": ("Lung", "costophrenic_angle"),
    "cardiophrenic_angle": ("Lung", "cardiophrenic_angle"),
    "hemidiaphragm": ("Diaphragm", None),
    "clavicle": ("Clavicle", None),
    "trachea": ("Trachea", None),
    "upper_mediastinum": ("Mediastinum", "upper_mediastinum"),
    "aortic_knob": ("AorticArch", None),
    "cardiac_silhouette": ("Heart", None),
    "spine": ("ThoracicSpine", None),
    "upper_abdomen": ("Abdomen", "upper_abdomen"),
}


@dataclass(frozen=True)
class SiteCode:
    """Where a region lies, as TID 1500 writes a finding site."""

    location: Code
    laterality: Code | None
    modifier: Code | None

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        return (
            self.location.value,
            self.laterality.value if self.laterality else None,
            self.modifier.value if self.modifier else None,
        )


def project_code(value: str, meaning: str | None = None) -> Code:
    """A code of the project's scheme (``99EMXR``)."""
    return Code(value, PROJECT_SCHEME, meaning or value, scheme_version=PROJECT_SCHEME_VERSION)


def finding_code(label: str) -> Code:
    """The code of a finding: SNOMED CT where one exists, else the project scheme's."""
    key = label.strip().lower()
    if key in _DICOM_SNOMED_FINDINGS:
        return getattr(codes.SCT, _DICOM_SNOMED_FINDINGS[key])
    if key in EXTRA_SNOMED:
        value, meaning = EXTRA_SNOMED[key]
        return Code(value, "SCT", meaning)
    return project_code(key)


@cache
def _finding_labels() -> dict[tuple[str, str], str]:
    table = {
        (getattr(codes.SCT, keyword).value, "SCT"): label
        for label, keyword in _DICOM_SNOMED_FINDINGS.items()
    }
    table.update({(value, "SCT"): lbl for lbl, (value, _) in EXTRA_SNOMED.items()})
    return table


def finding_label(value: str, scheme: str) -> str | None:
    """The finding label a code stands for (None for a code this module never writes)."""
    if scheme == PROJECT_SCHEME:
        return value
    return _finding_labels().get((value, scheme))


def site_code(region: RegionDef) -> SiteCode:
    """The anatomic location, laterality and topographical modifier of one region."""
    key = region.id.removeprefix(f"{region.side}_") if region.side != "midline" else region.id
    structure, part = _REGION_STRUCTURES[key]
    modifier = project_code(part, part.replace("_", " ")) if part else None
    return SiteCode(getattr(codes.SCT, structure), LATERALITY.get(region.side), modifier)


@cache
def _regions_by_site() -> dict[tuple[str, str | None, str | None], str]:
    return {site_code(r).key: r.id for r in REGIONS}


def region_from_site(location: str, laterality: str | None, modifier: str | None) -> str | None:
    """The region id of a finding site's code values (None for a site no region has)."""
    return _regions_by_site().get((location, laterality, modifier))


def status_from_code(value: str, scheme: str) -> str | None:
    for status, code in STATUS_CODES.items():
        if (code.value, code.scheme_designator) == (value, scheme):
            return status
    return None
