"""A case's report as a DICOM Comprehensive 3D SR following TID 1500 (Measurement Report).

Content tree (PS3.16 TID 1500):

- one TID 1410 *planar ROI* measurement group per grounded region of each finding: the region's
  box as a closed 2D polyline (SCOORD POLYLINE, 5 points, image pixel coordinates in which the
  top-left corner of the image is 0,0) referencing the source image; the finding's code as
  *Finding*, the region as *Finding Site* (anatomic location, laterality, topographical
  modifier), the status as the qualitative evaluation *Presence* = Present / Absent / Equivocal;
- one TID 1501 measurement group (no ROI) per finding without a grounded region (absent
  findings, and findings the localizer could not place), with the same codes;
- a *Qualitative Evaluations* container with the report text (*Finding*) and the *Impression*.

The observer is the algorithm (a device). The SR is COMPLETE and UNVERIFIED: no person has
signed it. :func:`read_sr` reads the groups back into :class:`SrFinding` records.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from ..anatomy.regions import region as region_def
from ..core.case import Box, Case, Finding
from . import coding
from .identity import (
    DEVICE_UID,
    MANUFACTURER,
    MODEL_NAME,
    SR_SERIES_NUMBER,
    software_version,
)

SERIES_DESCRIPTION = "ExplainMyXray structured report"


@dataclass(frozen=True)
class SrFinding:
    """One measurement group of an SR, read back: finding, status, region and its box."""

    label: str | None
    code: tuple[str, str]
    status: str | None
    region: str | None
    box: Box | None
    tracking_id: str


def build_sr(case: Case, evidence: Dataset) -> Dataset | None:
    """The SR of ``case`` referencing ``evidence`` (an image header), or None without findings."""
    import highdicom as hd

    if case.report is None or not case.report.findings:
        return None
    groups = list(_measurement_groups(case, evidence))
    observer = hd.sr.ObserverContext(
        observer_type=codes.cid270.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=DEVICE_UID,
            name=MODEL_NAME,
            manufacturer_name=MANUFACTURER,
            model_name=MODEL_NAME,
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=coding.PROCEDURE_CHEST_RADIOGRAPH,
        imaging_measurements=groups,
    )
    text = _report_text(case)
    if text is not None:
        report[0].ContentSequence.append(text)
    sr = hd.sr.Comprehensive3DSR(
        evidence=[evidence],
        content=report[0],
        series_instance_uid=generate_uid(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,
        is_verified=False,
        series_description=SERIES_DESCRIPTION,
        software_versions=software_version(),
    )
    return sr


def _measurement_groups(case: Case, evidence: Dataset) -> Iterator[Any]:
    import highdicom as hd

    assert case.report is not None
    boxes = {g.finding: g.regions for g in case.groundings}
    for number, finding in enumerate(case.report.findings, start=1):
        code = coding.finding_code(finding.label)
        evaluation = hd.sr.QualitativeEvaluation(
            coding.PRESENCE, coding.STATUS_CODES[finding.status]
        )
        grounded = boxes.get(finding.label, [])
        for grounded_region in grounded:
            site = coding.site_code(region_def(grounded_region.region))
            yield hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=generate_uid(),
                    identifier=f"finding {number} {finding.label} in {grounded_region.region}",
                ),
                referenced_region=hd.sr.ImageRegion(
                    graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                    graphic_data=_closed_polyline(grounded_region.box),
                    source_image=hd.sr.SourceImageForRegion(
                        evidence.SOPClassUID, evidence.SOPInstanceUID
                    ),
                ),
                finding_type=code,
                finding_category=coding.FINDING_CATEGORY,
                finding_sites=[_finding_site(site)],
                qualitative_evaluations=[evaluation],
            )
        if not grounded:
            yield hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=generate_uid(), identifier=f"finding {number} {finding.label}"
                ),
                finding_type=code,
                finding_category=coding.FINDING_CATEGORY,
                finding_sites=_named_sites(finding) or None,
                qualitative_evaluations=[evaluation],
                source_images=[
                    hd.sr.SourceImageForMeasurementGroup(
                        evidence.SOPClassUID, evidence.SOPInstanceUID
                    )
                ],
            )


def _named_sites(finding: Finding) -> list[Any]:
    """The regions a finding names (an ungrounded finding can still have them)."""
    return [_finding_site(coding.site_code(region_def(r))) for r in finding.regions]


def _finding_site(site: coding.SiteCode) -> Any:
    import highdicom as hd

    return hd.sr.FindingSite(
        anatomic_location=site.location,
        laterality=site.laterality,
        topographical_modifier=site.modifier,
    )


def _closed_polyline(box: Box) -> np.ndarray:
    """The box's corners clockwise from the top-left, ending where they start."""
    x0, y0, x1, y1 = box.x0, box.y0, box.x1, box.y1
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float32)


def _report_text(case: Case) -> Any:
    import highdicom as hd

    assert case.report is not None
    items = []
    text = (case.report.text or "").strip()
    if text:
        items.append((coding.FINDING_TEXT, text))
    if case.report.impression.strip():
        items.append((coding.IMPRESSION_TEXT, case.report.impression.strip()))
    if not items:
        return None
    container = hd.sr.ContainerContentItem(
        name=coding.REPORT_TEXT, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
    )
    container.ContentSequence = hd.sr.ContentSequence(
        [
            hd.sr.TextContentItem(
                name=name, value=value, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
            )
            for name, value in items
        ]
    )
    return container


def read_sr(dataset: Dataset) -> list[SrFinding]:
    """Every measurement group of a TID 1500 SR written by :func:`build_sr`, in document order."""
    import highdicom as hd

    sr = hd.sr.Comprehensive3DSR.from_dataset(dataset)
    report = sr.content
    found: list[SrFinding] = []
    for group in report.get_planar_roi_measurement_groups():
        box = _box_of(np.asarray(group.roi.value)) if group.roi is not None else None
        found.append(_read_group(group, box))
    for group in report.get_image_measurement_groups():
        found.append(_read_group(group, None))
    return found


def _read_group(group: Any, box: Box | None) -> SrFinding:
    finding_type = group.finding_type
    code = (finding_type.value, finding_type.scheme_designator)
    status = None
    for evaluation in group.get_qualitative_evaluations():
        if evaluation.name.value == coding.PRESENCE.value:
            value = evaluation.value
            status = coding.status_from_code(value.value, value.scheme_designator)
    region = None
    if group.finding_sites:
        site = group.finding_sites[0]
        region = coding.region_from_site(
            site.value.value,
            site.laterality.value if site.laterality is not None else None,
            site.topographical_modifier.value if site.topographical_modifier is not None else None,
        )
    return SrFinding(
        label=coding.finding_label(*code),
        code=code,
        status=status,
        region=region,
        box=box,
        tracking_id=str(group.tracking_identifier),
    )


def _box_of(points: np.ndarray) -> Box:
    xs, ys = points[:, 0], points[:, 1]
    return Box(x0=float(xs.min()), y0=float(ys.min()), x1=float(xs.max()), y1=float(ys.max()))
