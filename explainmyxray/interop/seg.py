"""A case's anatomical region masks as a binary DICOM Segmentation, pixel-aligned with its image.

One segment per region that has a mask, in the canonical order of
:data:`explainmyxray.anatomy.regions.REGIONS`: the segment label is the region's name, its
tracking id the region id, its colour the overlay colour (as CIE L*a*b*), its property the
anatomical structure with the patient's side as a modifier. Regions overlap (a zone is part of
its lung), which a binary SEG allows: each segment is its own frame. Empty masks are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from ..anatomy.regions import REGION_IDS
from ..anatomy.regions import region as region_def
from ..core.case import Case
from ..core.errors import InputError
from . import coding
from .identity import (
    DEVICE_SERIAL_NUMBER,
    MANUFACTURER,
    MODEL_NAME,
    SEG_SERIES_NUMBER,
    software_version,
)

SERIES_DESCRIPTION = "ExplainMyXray anatomical regions"


@dataclass(frozen=True)
class SegSegment:
    """One segment of a SEG, read back: its region id and mask."""

    number: int
    region: str
    label: str
    mask: np.ndarray


def build_seg(case: Case, evidence: Dataset) -> Dataset | None:
    """The SEG of ``case``'s region masks on ``evidence``; None when no region has a mask."""
    import highdicom as hd

    if case.image is None:
        return None
    shape = (case.image.height, case.image.width)
    order = {rid: i for i, rid in enumerate(REGION_IDS)}
    regions = sorted(
        (r for r in case.anatomy if r.mask is not None and np.any(r.mask)),
        key=lambda r: order.get(r.id, len(order)),
    )
    if not regions:
        return None
    for r in regions:
        assert r.mask is not None
        if r.mask.shape != shape:
            raise InputError(
                f"{case.source}: the mask of region {r.id} is {r.mask.shape[1]}x{r.mask.shape[0]}"
                f" but the image is {shape[1]}x{shape[0]}"
            )
    descriptions = []
    for number, r in enumerate(regions, start=1):
        algorithm = hd.AlgorithmIdentificationSequence(
            name=MODEL_NAME,
            family=codes.cid7162.ArtificialIntelligence,
            version=software_version(),
            source=r.method[:64] or None,  # how this region was made, e.g. "litemedsam+zones"
        )
        definition = region_def(r.id)
        site = coding.site_code(definition)
        description = hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=definition.name,
            segmented_property_category=coding.ANATOMICAL_STRUCTURE,
            segmented_property_type=site.location,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_uid=generate_uid(),
            tracking_id=r.id,
            display_color=hd.color.CIELabColor.from_rgb(*_rgb(definition.color)),
        )
        if site.laterality is not None:
            prop = description.SegmentedPropertyTypeCodeSequence[0]
            prop.SegmentedPropertyTypeModifierCodeSequence = [
                hd.sr.CodedConcept.from_code(site.laterality)
            ]
        descriptions.append(description)
    # (frames, rows, columns, segments): one source frame, every segment a channel
    stack = np.stack([np.asarray(r.mask, dtype=bool) for r in regions], axis=-1)[np.newaxis]
    seg = hd.seg.Segmentation(
        source_images=[evidence],
        pixel_array=stack,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=software_version(),
        device_serial_number=DEVICE_SERIAL_NUMBER,
        content_label="REGIONS",
        content_description="Anatomical regions of a frontal chest radiograph",
        series_description=SERIES_DESCRIPTION,
    )
    # General Image: required (may be empty) when the image has no patient coordinate system
    seg.PatientOrientation = evidence.get("PatientOrientation") or None
    return seg


def read_seg(dataset: Dataset) -> list[SegSegment]:
    """The segments of a binary SEG of one single-frame image, with full-size boolean masks.

    Read with pydicom alone (frame -> segment through the per-frame functional groups), so it
    checks what a viewer decodes, not what the writer meant. A segment without frames is empty.
    """
    frames = dataset.pixel_array.reshape(-1, dataset.Rows, dataset.Columns)
    by_number: dict[int, np.ndarray] = {}
    for frame, groups in zip(frames, dataset.PerFrameFunctionalGroupsSequence, strict=True):
        number = int(groups.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        mask = by_number.setdefault(number, np.zeros(frame.shape, dtype=bool))
        mask |= frame.astype(bool)
    segments = []
    for item in dataset.SegmentSequence:
        number = int(item.SegmentNumber)
        shape = (int(dataset.Rows), int(dataset.Columns))
        segments.append(
            SegSegment(
                number=number,
                region=str(item.TrackingID),
                label=str(item.SegmentLabel),
                mask=by_number.get(number, np.zeros(shape, dtype=bool)),
            )
        )
    return segments


def _rgb(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
