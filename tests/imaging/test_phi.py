"""Identifying DICOM values never reach a serialised case unless keep_phi is asked for."""

from __future__ import annotations

import json

import pytest
from pydicom import dcmread
from pydicom.uid import UID

from explainmyxray.core.case import Case, CaseError
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import QualityGateError
from explainmyxray.plugins.preprocess_image import ImageOptions, preprocess

from .conftest import DICOM_FILES, pydicom_file

IDENTIFYING_VRS = {"PN", "DA", "DT", "TM"}
IDENTIFYING_KEYWORDS = {
    "PatientID",
    "OtherPatientIDs",
    "AccessionNumber",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
    "DeviceSerialNumber",
    "StudyID",
    "PatientAge",
    "RequestedProcedureID",
    "PerformedProcedureStepID",
    "DetectorID",
    "AdditionalPatientHistory",
    "ImageComments",
}


def identifying_values(path) -> set[str]:
    """Every name, date, time, instance UID and identifier of the file, nested ones included."""
    values: set[str] = set()
    for element in dcmread(path).iterall():
        if element.VR == "SQ" or element.value in (None, ""):
            continue
        texts = element.value if element.VM > 1 else [element.value]
        for value in texts:
            text = str(value).strip()
            if element.VR == "UI":
                if UID(text).is_private or UID(text).name == text:  # an instance, not a standard
                    values.add(text)
            elif element.VR in IDENTIFYING_VRS or element.keyword in IDENTIFYING_KEYWORDS:
                values.add(text)
                if element.VR == "PN":
                    values.update(part for part in text.split("^") if part)
    return {v for v in values if len(v) >= 4}


def _serialised_case(path, keep_phi: bool) -> str:
    case = Case(id="c", source=str(path))
    step = StepContext(
        stage="preprocess", plugin="image", options=ImageOptions(), keep_phi=keep_phi
    )
    [image] = preprocess([case], step)
    if isinstance(image, QualityGateError):  # a stopped case's message must not leak either
        kind = "QualityGateError"
        case.errors.append(
            CaseError(stage="preprocess", plugin="image", error_type=kind, message=str(image))
        )
    else:
        assert not isinstance(image, Exception), image
        case.image = image
    return json.dumps(case.to_report())


def _dicom_params():
    params = [pytest.param(p, id=p.name) for p in DICOM_FILES]
    return [*params, pytest.param("RG1_UNCR.dcm", id="RG1_UNCR.dcm")]


@pytest.mark.parametrize("item", _dicom_params())
def test_no_identifying_value_in_the_case_json(item):
    path = item if not isinstance(item, str) else pydicom_file(item)
    secrets = identifying_values(path)
    assert len(secrets) >= 3, "the test needs a file with identifiers in it"
    text = _serialised_case(path, keep_phi=False).lower()
    leaked = sorted(s for s in secrets if s.lower() in text)
    assert leaked == []
    # the same check finds them once the user asks to keep them
    kept = _serialised_case(path, keep_phi=True).lower()
    assert any(s.lower() in kept for s in secrets)


def test_keep_phi_reports_the_identifiers():
    path = pydicom_file("RG1_UNCR.dcm")
    case = Case(id="c", source=str(path))
    step = StepContext(stage="preprocess", plugin="image", options=ImageOptions(), keep_phi=True)
    preprocess([case], step)
    assert case.metadata["patient_name"] == "CompressedSamples^RG1"
    assert case.metadata["patient_id"] == "9RG1"
    assert case.metadata["patient_birth_date"] == "19400305"
    assert case.metadata["institution_name"] == "Philips Medical Systems Hamburg"
    assert str(case.metadata["sop_instance_uid"]).startswith("1.3.6.1.4.1.5962.")
    default = Case(id="d", source=str(path))
    preprocess([default], StepContext(stage="preprocess", plugin="image", options=ImageOptions()))
    assert not {"patient_name", "patient_id", "sop_instance_uid"} & set(default.metadata)
