"""Which image a case's SR and SEG reference, and so which patient and study they belong to.

- ``keep_phi`` and a single-frame DICOM source: the source instance itself. The SR and SEG join
  its study (same patient, same Study Instance UID), which is what a PACS needs to show them
  with the radiograph.
- Otherwise (a PNG/JPEG, or a de-identified run): a Secondary Capture of the decoded pixels in a
  new pseudonymous study (see :mod:`.secondary_capture`). Nothing of the source header, path or
  UIDs reaches the results.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom import config
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.valuerep import validate_value

from ..core.case import Case
from ..core.errors import InputError
from ..imaging.header import int_frames, pixel_spacing
from .secondary_capture import NewStudy, build_secondary_capture

log = logging.getLogger(__name__)

EMPTY_WHEN_INVALID = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyDate",
        "StudyTime",
        "StudyID",
        "AccessionNumber",
        "ReferringPhysicianName",
    }
)
"""Type 2 attributes the SR and SEG copy: an invalid value becomes empty, not absent."""


@dataclass(frozen=True)
class Evidence:
    """The referenced image's header, and the Secondary Capture to write when one was made."""

    image: Dataset
    secondary_capture: Dataset | None = None


def evidence_for(case: Case, *, keep_phi: bool) -> Evidence:
    if case.image is None:
        raise InputError(f"{case.source}: the case has no decoded image to reference")
    if keep_phi and case.image.source_format == "dicom":
        source = _source_header(case.input_file)
        if source is not None and _matches(source, case):
            return Evidence(image=sanitized(source))
    sc = build_secondary_capture(case.image, NewStudy.create())
    return Evidence(image=sc, secondary_capture=sc)


def _source_header(path: Path) -> Dataset | None:
    """The source's header; None (with a warning) when it no longer reads as DICOM."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (OSError, InvalidDicomError) as exc:
        log.warning("%s: cannot read the header again (%s); the results reference an SC", path, exc)
        return None


def _matches(ds: Dataset, case: Case) -> bool:
    """A single-frame image of the size the pipeline saw (a multi-frame source gets an SC)."""
    assert case.image is not None
    return (
        int_frames(ds) == 1
        and int(ds.get("Rows") or 0) == case.image.height
        and int(ds.get("Columns") or 0) == case.image.width
        and bool(ds.get("SOPInstanceUID"))
        and bool(ds.get("StudyInstanceUID"))
    )


def sanitized(source: Dataset) -> Dataset:
    """A copy of the header without the values that break the VR rules or make no sense.

    The SR and SEG copy the source's patient, study and spacing attributes; a source's broken
    value (an age without its unit, a pixel spacing of zero) would make them invalid. Type 2
    attributes become empty, the others are dropped.
    """
    ds = copy.deepcopy(source)
    for element in list(ds):
        if element.VR in ("SQ", "OB", "OW", "UN") or element.tag.group == 0x7FE0:
            continue
        values = element.value if element.VM > 1 else [element.value]
        try:
            for value in values:
                if value not in (None, ""):
                    validate_value(element.VR, value, config.RAISE)
        except (ValueError, TypeError):
            if element.keyword in EMPTY_WHEN_INVALID:
                element.value = None
            else:
                del ds[element.tag]
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        if keyword in ds and pixel_spacing(_only(ds, keyword))[0] is None:
            del ds[keyword]
    return ds


def _only(ds: Dataset, keyword: str) -> Dataset:
    one = Dataset()
    setattr(one, keyword, ds[keyword].value)
    return one
