"""DICOM grey-level chain on synthetic files: LUTs, windows, polarity, frames, spacing."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from explainmyxray.core.errors import InputError
from explainmyxray.imaging import analyse_layout, assess_quality, read_xray

from .conftest import mediastinum_margin, pydicom_file, synthetic_chest, write_dicom


def test_plain_monochrome2_uses_robust_percentiles(tmp_path, chest12):
    image, metadata = read_xray(write_dicom(tmp_path / "a.dcm", chest12, bits_stored=12))
    assert metadata["voi"] == "percentiles"
    lo, hi = np.percentile(chest12, [0.5, 99.5])
    expected = np.clip((chest12 - lo) / (hi - lo), 0, 1)
    assert np.allclose(image.pixels, expected, atol=1e-5)
    assert image.bits_stored == 12


def test_monochrome1_is_inverted(tmp_path, chest12):
    negative = (4095 - chest12).astype(np.uint16)
    image, metadata = read_xray(
        write_dicom(tmp_path / "m1.dcm", negative, photometric="MONOCHROME1", bits_stored=12)
    )
    assert metadata["polarity"] == "header"
    assert mediastinum_margin(image.pixels) > 0.2
    assert analyse_layout(image.pixels).profile > 0.5


def test_monochrome1_header_on_positive_pixels_is_corrected(tmp_path, chest12):
    path = write_dicom(tmp_path / "fake.dcm", chest12, photometric="MONOCHROME1", bits_stored=12)
    image, metadata = read_xray(path)
    assert metadata["polarity"] == "corrected"
    assert mediastinum_margin(image.pixels) > 0.2
    flags = assess_quality(image, metadata)
    assert [f.code for f in flags] == ["polarity_corrected"]
    assert flags[0].severity == "info"


def test_monochrome2_with_inverse_presentation_lut_is_inverted(tmp_path, chest12):
    negative = (4095 - chest12).astype(np.uint16)
    path = write_dicom(
        tmp_path / "inv.dcm", negative, bits_stored=12, PresentationLUTShape="INVERSE"
    )
    image, _ = read_xray(path, fix_inverted="never")
    assert mediastinum_margin(image.pixels) > 0.2
    assert any("INVERSE" in note for note in image.notes)


def test_rescale_slope_and_intercept_apply_before_the_window(tmp_path, chest12):
    # stored s, modality value 2 s - 1000; a window on modality values [-1000, 7190]
    path = write_dicom(
        tmp_path / "r.dcm",
        chest12,
        bits_stored=12,
        RescaleSlope="2",
        RescaleIntercept="-1000",
        WindowCenter="3095",
        WindowWidth="8191",
        VOILUTFunction="LINEAR_EXACT",
    )
    image, metadata = read_xray(path)
    assert metadata["voi"] == "window"
    modality = chest12.astype(np.float64) * 2 - 1000
    expected = np.clip((modality - (3095 - 8191 / 2)) / 8191, 0, 1)
    assert np.allclose(image.pixels, expected, atol=1e-4)


def test_absurd_window_falls_back_to_percentiles(tmp_path, chest12):
    # a CT lung window on 12-bit CR values clips nearly every pixel to white
    path = write_dicom(
        tmp_path / "w.dcm", chest12, bits_stored=12, WindowCenter="-600", WindowWidth="1500"
    )
    image, metadata = read_xray(path)
    assert metadata["voi"] == "percentiles"
    assert any("-600/1500" in note for note in image.notes)
    assert mediastinum_margin(image.pixels) > 0.2
    forced, forced_meta = read_xray(path, voi="window")
    assert forced_meta["voi"] == "window"
    assert float(forced.pixels.mean()) > 0.99


def test_multi_valued_windows_skip_invalid_and_absurd_pairs(tmp_path, chest12):
    path = write_dicom(
        tmp_path / "mw.dcm",
        chest12,
        bits_stored=12,
        WindowCenter=["100", "5", "2048"],
        WindowWidth=["0", "3", "4096"],
    )
    image, metadata = read_xray(path)
    assert (metadata["window_center"], metadata["window_width"]) == (2048.0, 4096.0)
    assert any("width below 1" in note for note in image.notes)
    assert any("used window 2 of 2" in note for note in image.notes)


def test_percentile_option_ignores_a_good_window(tmp_path, chest12):
    path = write_dicom(
        tmp_path / "p.dcm", chest12, bits_stored=12, WindowCenter="2048", WindowWidth="4096"
    )
    assert read_xray(path)[1]["voi"] == "window"
    assert read_xray(path, voi="percentiles")[1]["voi"] == "percentiles"


def test_sigmoid_window(tmp_path, chest12):
    path = write_dicom(
        tmp_path / "s.dcm",
        chest12,
        bits_stored=12,
        WindowCenter="2048",
        WindowWidth="4096",
        VOILUTFunction="SIGMOID",
    )
    image, _ = read_xray(path)
    expected = 1 / (1 + np.exp(-4 * (chest12.astype(np.float64) - 2048) / 4096))
    assert np.allclose(image.pixels, expected, atol=1e-5)


def test_voi_lut_sequence(tmp_path, chest12):
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.LUTData = [min(65535, 16 * v) for v in range(4096)]
    path = write_dicom(tmp_path / "lut.dcm", chest12, bits_stored=12)
    from pydicom import dcmread

    ds = dcmread(path)
    ds.VOILUTSequence = Sequence([item])
    ds["VOILUTSequence"][0]["LUTDescriptor"].VR = "US"
    ds["VOILUTSequence"][0]["LUTData"].VR = "US"
    ds.save_as(path)
    image, metadata = read_xray(path)
    assert metadata["voi"] == "voi_lut"
    assert np.allclose(image.pixels, chest12 / 4095, atol=1e-4)


def test_multi_frame_uses_the_asked_frame_and_says_so(tmp_path, chest12):
    frames = np.stack([chest12, (chest12 // 2).astype(np.uint16), chest12])
    path = write_dicom(tmp_path / "mf.dcm", frames, bits_stored=12)
    first, metadata = read_xray(path)
    assert first.pixels.shape == chest12.shape
    assert metadata["frames"] == 3
    assert "multi-frame DICOM (3 frames): used frame 1" in first.notes
    assert "multi_frame" in {f.code for f in assess_quality(first, metadata)}
    second, _ = read_xray(path, frame=1)
    assert "used frame 2" in second.notes[0]
    with pytest.raises(InputError, match=r"mf\.dcm: frame 4 was asked for but the image has 3"):
        read_xray(path, frame=3)


def test_imager_pixel_spacing_is_the_fallback(tmp_path, chest12):
    path = write_dicom(
        tmp_path / "sp.dcm", chest12, bits_stored=12, ImagerPixelSpacing=["0.2", "0.25"]
    )
    image, metadata = read_xray(path)
    assert image.pixel_spacing_mm == (0.2, 0.25)
    assert metadata["pixel_spacing_source"] == "ImagerPixelSpacing"


def test_view_position_and_lateral_flag(tmp_path, chest12):
    path = write_dicom(tmp_path / "ll.dcm", chest12, bits_stored=12, ViewPosition="LL")
    image, metadata = read_xray(path)
    flags = {f.code: f for f in assess_quality(image, metadata)}
    assert flags["lateral_view"].value == "LL"


def test_signed_eight_bit_and_sixteen_bit_data(tmp_path):
    chest = synthetic_chest()
    signed = np.round(chest * 2000 - 1000).astype(np.int16)
    image, _ = read_xray(write_dicom(tmp_path / "s16.dcm", signed))
    assert mediastinum_margin(image.pixels) > 0.2
    eight = np.round(chest * 255).astype(np.uint8)
    image, _ = read_xray(write_dicom(tmp_path / "u8.dcm", eight))
    assert image.bits_stored == 8
    assert mediastinum_margin(image.pixels) > 0.2


def test_other_modalities_and_body_parts_are_flagged(tmp_path, chest12):
    path = write_dicom(tmp_path / "ct.dcm", chest12, Modality="CT", BodyPartExamined="KNEE")
    image, metadata = read_xray(path)
    codes = {f.code for f in assess_quality(image, metadata)}
    assert {"unexpected_modality", "unexpected_body_part"} <= codes


def test_species_tag_marks_a_non_human_subject(tmp_path, chest12):
    path = write_dicom(
        tmp_path / "cat.dcm", chest12, bits_stored=12, PatientSpeciesDescription="Felis catus"
    )
    image, metadata = read_xray(path)
    flags = {f.code: f for f in assess_quality(image, metadata)}
    assert flags["non_human"].severity == "error"
    assert "Felis catus" in str(flags["non_human"].value)
    human = write_dicom(
        tmp_path / "human.dcm", chest12, bits_stored=12, PatientSpeciesDescription="Homo sapiens"
    )
    image, metadata = read_xray(human)
    assert "non_human" not in {f.code for f in assess_quality(image, metadata)}


def test_colour_dicom_becomes_grey_and_is_flagged():
    image, metadata = read_xray(pydicom_file("SC_rgb_rle_2frame.dcm"))
    assert image.pixels.shape == (100, 100)
    assert metadata["voi"] == "none (colour)"
    codes = {f.code for f in assess_quality(image, metadata)}
    assert {"colour_image", "multi_frame"} <= codes
