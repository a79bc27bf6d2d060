"""Every real radiograph under shared/data (and pydicom-data's RG1 chest) decodes correctly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explainmyxray.imaging import assess_quality, read_xray

from .conftest import CXR_FILES, DICOM_FILES, mediastinum_margin, pydicom_file, shared_file

EXPECTED_SHAPES = {
    "covid19_pneumonia_58_prior.jpg": (2373, 2373),
    "nih_00000001_000.png": (512, 512),
    "nih_00003440_000.png": (1024, 1024),
    "nih_00027426_000.png": (512, 512),
    "opencxr_c0001_8bit.png": (1024, 1024),
    "rgb_16747_3_1.jpg": (885, 1036),
    "tbx11k_health_h0001.png": (512, 512),
    "tbx11k_tb_tb0005.png": (512, 512),
    "siim_chest_cr_jpeg.dcm": (1024, 1024),
    "fake_monochrome1_header.dcm": (1024, 1024),
    "veterinary_thorax_dx_monochrome1.dcm": (169, 211),
    "RG1_UNCR.dcm": (1955, 1841),
    "RG1_J2KR.dcm": (1955, 1841),
}
EXPECTED_FLAGS: dict[str, set[str]] = {
    "fake_monochrome1_header.dcm": {"polarity_corrected"},
    "veterinary_thorax_dx_monochrome1.dcm": {
        "lateral_view",
        "not_frontal_chest",
        "small_image",
        "non_human",
    },
}
NOT_FRONTAL = {"veterinary_thorax_dx_monochrome1.dcm"}


def _real_paths() -> list[Path]:
    return [*CXR_FILES, *DICOM_FILES]


def _all_cases():
    paths = [pytest.param(p, id=p.name) for p in _real_paths()]
    paths += [
        pytest.param("RG1_UNCR.dcm", id="RG1_UNCR.dcm"),
        pytest.param("RG1_J2KR.dcm", id="RG1_J2KR.dcm"),
    ]
    return paths


def _resolve(item: Path | str) -> Path:
    return item if isinstance(item, Path) else pydicom_file(item)


def test_the_real_data_is_listed():
    if not _real_paths():
        pytest.skip("shared/data is absent")
    assert {p.name for p in _real_paths()} <= set(EXPECTED_SHAPES)


@pytest.mark.parametrize("item", _all_cases())
def test_decodes_to_unit_float_at_original_size(item):
    path = _resolve(item)
    image, metadata = read_xray(path)
    assert image.pixels is not None
    assert image.pixels.dtype == np.float32
    assert image.pixels.shape == EXPECTED_SHAPES[path.name]
    assert (image.height, image.width) == image.pixels.shape
    assert metadata["rows"] == image.height and metadata["columns"] == image.width
    assert float(image.pixels.min()) >= 0.0 and float(image.pixels.max()) <= 1.0
    # the full grey range is used, not a sliver of it
    assert float(np.percentile(image.pixels, 99) - np.percentile(image.pixels, 1)) > 0.5


@pytest.mark.parametrize("item", [case for case in _all_cases() if case.id not in NOT_FRONTAL])
def test_frontal_chests_show_lungs_darker_than_mediastinum(item):
    image, _ = read_xray(_resolve(item))
    assert mediastinum_margin(image.pixels) > 0.05


@pytest.mark.parametrize("item", _all_cases())
def test_quality_flags_per_file(item):
    path = _resolve(item)
    image, metadata = read_xray(path)
    codes = {flag.code for flag in assess_quality(image, metadata)}
    assert codes == EXPECTED_FLAGS.get(path.name, set())


def test_fake_monochrome1_header_gets_the_polarity_of_the_correct_file():
    correct, correct_meta = read_xray(shared_file("dicom/siim_chest_cr_jpeg.dcm"))
    fake, fake_meta = read_xray(shared_file("dicom/fake_monochrome1_header.dcm"))
    assert fake_meta["photometric_interpretation"] == "MONOCHROME1"
    assert correct_meta["polarity"] == "header" and fake_meta["polarity"] == "corrected"
    assert np.abs(fake.pixels - correct.pixels).max() < 1e-6
    assert any("polarity flipped" in note for note in fake.notes)


def test_fake_monochrome1_is_inverted_when_the_header_is_trusted():
    correct, _ = read_xray(shared_file("dicom/siim_chest_cr_jpeg.dcm"))
    trusted, _ = read_xray(shared_file("dicom/fake_monochrome1_header.dcm"), fix_inverted="never")
    assert np.allclose(trusted.pixels, 1.0 - correct.pixels, atol=1e-6)
    assert mediastinum_margin(trusted.pixels) < -0.05
    codes = {f.code for f in assess_quality(trusted, {})}
    assert "inverted" in codes


def test_veterinary_monochrome1_shows_air_dark_and_dog_bright():
    image, metadata = read_xray(shared_file("dicom/veterinary_thorax_dx_monochrome1.dcm"))
    assert metadata["polarity"] == "header"
    pixels = image.pixels
    below_the_dog = np.median(pixels[int(0.92 * image.height) :, :])
    assert below_the_dog < np.median(pixels) - 0.2


def test_rg1_compressed_and_uncompressed_decode_identically():
    plain, plain_meta = read_xray(pydicom_file("RG1_UNCR.dcm"))
    j2k, j2k_meta = read_xray(pydicom_file("RG1_J2KR.dcm"))
    assert np.array_equal(plain.pixels, j2k.pixels)
    assert j2k_meta["transfer_syntax"] == "JPEG 2000 Image Compression (Lossless Only)"
    assert plain_meta["bits_stored"] == 15 and plain.bits_stored == 15
    assert plain.photometric == "MONOCHROME1"


def test_rg1_window_and_spacing_are_handled():
    image, metadata = read_xray(pydicom_file("RG1_UNCR.dcm"))
    # 15000/30000 spans the data: honoured. Pixel spacing 0\0 is not a spacing.
    assert metadata["voi"] == "window"
    assert (metadata["window_center"], metadata["window_width"]) == (15000.0, 30000.0)
    assert image.pixel_spacing_mm is None
    assert any("PixelSpacing" in note for note in image.notes)
    assert image.view_position == "PA"


def test_siim_metadata_is_technical():
    image, metadata = read_xray(shared_file("dicom/siim_chest_cr_jpeg.dcm"))
    assert metadata["modality"] == "CR"
    assert metadata["transfer_syntax"] == "JPEG Baseline (Process 1)"
    assert image.pixel_spacing_mm == (0.168, 0.168)
    assert metadata["pixel_spacing_source"] == "PixelSpacing"
    assert image.view_position == "PA" and image.source_format == "dicom"


def test_veterinary_view_and_spacing_come_from_fallbacks():
    image, metadata = read_xray(shared_file("dicom/veterinary_thorax_dx_monochrome1.dcm"))
    assert image.view_position == "LATERAL"
    assert metadata["view_position_source"] == "AcquisitionDeviceProcessingDescription"
    assert metadata["non_human_evidence"] == "'canine' in AcquisitionDeviceProcessingDescription"
