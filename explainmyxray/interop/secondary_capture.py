"""A Secondary Capture image of the decoded radiograph, for SR and SEG to reference.

A PNG or JPEG has no DICOM identity, and a de-identified run may not reference the source
DICOM's instance UIDs. In both cases the results reference a grayscale Secondary Capture Image
(8 bits for 8-bit PNG/JPEG, else 16) made from the pixels the pipeline saw: same size, same
orientation, so every box and mask lines up with it pixel for pixel. Its patient and study are
new: a random pseudonymous patient id, new UIDs, no name, dates or other header data of the
source.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from ..core.case import XrayImage
from ..core.errors import InputError
from .identity import MANUFACTURER, software_version

FRONTAL_OR_UNKNOWN = frozenset({None, "PA", "AP", "RLD", "LLD"})
DEIDENTIFICATION_METHOD = "ExplainMyXray: new identifiers, no source header"


@dataclass(frozen=True)
class NewStudy:
    """Pseudonymous patient and study attributes for objects that may not carry the source's."""

    patient_id: str
    study_instance_uid: str
    study_id: str

    @classmethod
    def create(cls) -> NewStudy:
        return cls(
            patient_id=f"EMXR-{secrets.token_hex(6).upper()}",
            study_instance_uid=generate_uid(),
            study_id="EMXR",
        )


def build_secondary_capture(image: XrayImage, study: NewStudy) -> Dataset:
    """The radiograph as a grayscale SC instance of a new study (see the module docstring)."""
    from highdicom.sc import SCImage

    if image.pixels is None:
        raise InputError("the case's image has no pixels in memory: cannot make a DICOM image")
    pixels = np.clip(np.asarray(image.pixels, dtype=np.float32), 0.0, 1.0)
    eight_bit = image.source_format != "dicom" and (image.bits_stored or 8) <= 8
    if eight_bit:
        array = np.rint(pixels * 255.0).astype(np.uint8)
    else:
        array = np.rint(pixels * 65535.0).astype(np.uint16)
    frontal = image.view_position in FRONTAL_OR_UNKNOWN
    sc = SCImage(
        pixel_array=array,
        photometric_interpretation="MONOCHROME2",
        bits_allocated=8 if eight_bit else 16,
        coordinate_system="PATIENT",
        study_instance_uid=study.study_instance_uid,
        series_instance_uid=generate_uid(),
        series_number=900,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        patient_id=study.patient_id,
        patient_name="",
        study_id=study.study_id,
        accession_number="",
        # the patient's left is to the image's right, the feet are down: a frontal chest film
        patient_orientation=("L", "F"),
        pixel_spacing=image.pixel_spacing_mm,
        software_versions=software_version(),
        series_description="ExplainMyXray source image",
    )
    if not frontal:
        sc.PatientOrientation = None
    sc.PatientIdentityRemoved = "YES"
    sc.DeidentificationMethod = DEIDENTIFICATION_METHOD
    sc.BodyPartExamined = "CHEST"
    sc.ImageType = ["DERIVED", "SECONDARY"]
    return sc
