"""Which image the results reference, and what of its header they may carry (fast, no models)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from explainmyxray.core.case import Case
from explainmyxray.imaging.reader import read_xray
from explainmyxray.interop.evidence import evidence_for, sanitized
from explainmyxray.interop.secondary_capture import NewStudy, build_secondary_capture

from .conftest import rg1_uncr


def decoded_case(path) -> Case:
    image, _ = read_xray(path)
    return Case(id="c", source=str(path), image=image)


def test_a_source_header_loses_the_values_that_break_its_vr(shared_data):
    source = pydicom.dcmread(shared_data / "dicom" / "siim_chest_cr_jpeg.dcm")
    assert source.PatientAge == "62"  # an age string without its unit: invalid AS
    source.PatientBirthDate = "1960"  # invalid DA, Type 2: becomes empty
    source.PixelSpacing = [0, 0]
    clean = sanitized(source)
    assert "PatientAge" not in clean and "PixelSpacing" not in clean
    assert "PatientBirthDate" in clean and clean.PatientBirthDate in ("", None)
    assert clean.PatientID == source.PatientID and clean.SOPInstanceUID == source.SOPInstanceUID
    assert source.PatientAge == "62"  # the source itself is untouched


def test_keep_phi_references_the_dicom_itself_and_otherwise_a_new_study():
    case = decoded_case(rg1_uncr())
    source = pydicom.dcmread(rg1_uncr(), stop_before_pixels=True)
    kept = evidence_for(case, keep_phi=True)
    assert kept.secondary_capture is None
    assert kept.image.SOPInstanceUID == source.SOPInstanceUID
    assert "PixelSpacing" not in kept.image  # RG1's PixelSpacing is 0\\0
    fresh = evidence_for(case, keep_phi=False)
    sc = fresh.secondary_capture
    assert sc is not None and fresh.image is sc
    assert sc.StudyInstanceUID != source.StudyInstanceUID
    assert sc.PatientID.startswith("EMXR-") and sc.PatientID != source.PatientID
    assert (sc.Rows, sc.Columns) == (source.Rows, source.Columns)
    assert evidence_for(case, keep_phi=False).image.PatientID != sc.PatientID  # no linkage


def test_a_png_gets_an_8_bit_capture_with_the_same_pixels(shared_data):
    case = decoded_case(shared_data / "cxr" / "nih_00000001_000.png")
    sc = evidence_for(case, keep_phi=True).secondary_capture
    assert sc is not None and sc.BitsAllocated == 8
    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    expected = np.rint(case.image.pixels * 255).astype(np.uint8)
    assert np.array_equal(sc.pixel_array, expected)
    assert list(sc.PatientOrientation) == ["L", "F"]


def test_a_lateral_view_gets_no_frontal_orientation():
    case = decoded_case(rg1_uncr())
    image = case.image.model_copy(update={"view_position": "LL"})
    sc = build_secondary_capture(image, NewStudy.create())
    assert sc.BitsAllocated == 16
    assert not sc.get("PatientOrientation")


def test_an_image_without_pixels_is_refused():
    case = decoded_case(rg1_uncr())
    with pytest.raises(Exception, match="no pixels"):
        build_secondary_capture(case.image.model_copy(update={"pixels": None}), NewStudy.create())
