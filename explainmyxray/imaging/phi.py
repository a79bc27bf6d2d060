"""Which DICOM attributes may leave the reader, and under which names.

By default only technical attributes are reported (how the image was made and encoded). The
attributes that identify a patient, a visit, a person or a place, every date and time, and every
instance UID stay inside the reader unless the user passes ``keep_phi`` (``--keep-phi``). Free
text (descriptions, comments) is withheld too: it often carries names and dates.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

MetadataValue = str | int | float | None

TECHNICAL_TEXT: dict[str, str] = {
    "modality": "Modality",
    "body_part": "BodyPartExamined",
    "manufacturer": "Manufacturer",
    "manufacturer_model": "ManufacturerModelName",
    "photometric_interpretation": "PhotometricInterpretation",
    "presentation_intent": "PresentationIntentType",
    "patient_species": "PatientSpeciesDescription",
}
TECHNICAL_INT: dict[str, str] = {
    "rows": "Rows",
    "columns": "Columns",
    "bits_allocated": "BitsAllocated",
    "bits_stored": "BitsStored",
    "samples_per_pixel": "SamplesPerPixel",
}

IDENTIFYING: dict[str, str] = {
    "patient_name": "PatientName",
    "patient_id": "PatientID",
    "other_patient_ids": "OtherPatientIDs",
    "patient_birth_date": "PatientBirthDate",
    "patient_sex": "PatientSex",
    "patient_age": "PatientAge",
    "accession_number": "AccessionNumber",
    "institution_name": "InstitutionName",
    "institution_address": "InstitutionAddress",
    "department_name": "InstitutionalDepartmentName",
    "station_name": "StationName",
    "device_serial_number": "DeviceSerialNumber",
    "referring_physician": "ReferringPhysicianName",
    "performing_physician": "PerformingPhysicianName",
    "operators_name": "OperatorsName",
    "requesting_physician": "RequestingPhysician",
    "study_id": "StudyID",
    "study_date": "StudyDate",
    "study_time": "StudyTime",
    "series_date": "SeriesDate",
    "acquisition_date": "AcquisitionDate",
    "content_date": "ContentDate",
    "study_description": "StudyDescription",
    "series_description": "SeriesDescription",
    "study_instance_uid": "StudyInstanceUID",
    "series_instance_uid": "SeriesInstanceUID",
    "sop_instance_uid": "SOPInstanceUID",
}
"""Reported only with ``keep_phi``: output key -> DICOM keyword."""


def text_value(ds: Dataset, keyword: str) -> str | None:
    """The attribute as one stripped string (multiple values joined with ``\\``), None if empty."""
    value: Any = ds.get(keyword)
    if value is None:
        return None
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    text = text.strip().strip("\x00").strip()
    return text or None


def int_value(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None


def dicom_metadata(ds: Dataset, *, keep_phi: bool = False) -> dict[str, MetadataValue]:
    """Technical attributes of a data set; with ``keep_phi`` also the identifying ones."""
    out: dict[str, MetadataValue] = {"format": "dicom"}
    for key, keyword in TECHNICAL_TEXT.items():
        out[key] = text_value(ds, keyword)
    for key, keyword in TECHNICAL_INT.items():
        out[key] = int_value(ds, keyword)
    out["frames"] = int_value(ds, "NumberOfFrames") or 1
    sop_class = ds.get("SOPClassUID")
    out["sop_class"] = getattr(sop_class, "name", None) if sop_class else None
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    out["transfer_syntax"] = getattr(syntax, "name", None) if syntax else None
    if keep_phi:
        for key, keyword in IDENTIFYING.items():
            out[key] = text_value(ds, keyword)
    return {k: v for k, v in out.items() if v is not None}
