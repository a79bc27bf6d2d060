"""Broken inputs fail with an InputError that names the file and what is wrong."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread

from explainmyxray.core.errors import InputError
from explainmyxray.imaging import read_xray

from .conftest import pydicom_file, shared_file, synthetic_chest, write_dicom


def _fails(path, pattern: str, **kwargs) -> InputError:
    with pytest.raises(InputError) as caught:
        read_xray(path, **kwargs)
    message = str(caught.value)
    assert str(path) in message
    assert re.search(pattern, message), message
    return caught.value


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("MR_truncated.dcm", r"cannot decode the pixel data .*less than expected"),
        ("no_meta.dcm", r"not a DICOM Part 10 file.*'DICM'"),
        ("ExplVR_LitEndNoMeta.dcm", r"not a DICOM Part 10 file"),
        ("meta_missing_tsyntax.dcm", r"no Transfer Syntax UID \(0002,0010\)"),
        ("rtplan.dcm", r"no pixel data \(a RT Plan Storage\)"),
    ],
)
def test_pydicom_broken_files(name, pattern):
    _fails(pydicom_file(name), pattern)


def test_truncated_compressed_pixel_data(tmp_path):
    data = shared_file("dicom/siim_chest_cr_jpeg.dcm").read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) // 2])
    _fails(cut, r"truncated: the pixel data ends early")


def test_header_cut_before_the_pixel_data(tmp_path):
    data = shared_file("dicom/siim_chest_cr_jpeg.dcm").read_bytes()
    cut = tmp_path / "head.dcm"
    cut.write_bytes(data[:500])
    _fails(cut, r"Secondary Capture Image Storage object without pixel data: truncated")


def test_truncated_uncompressed_pixel_data(tmp_path, chest12):
    path = write_dicom(tmp_path / "u.dcm", chest12, bits_stored=12)
    data = path.read_bytes()
    path.write_bytes(data[:-1000])
    _fails(path, r"cannot decode the pixel data \(Explicit VR Little Endian\)")


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    _fails(empty, r"the file is empty")
    _fails(tmp_path / "absent.png", r"no such file")


def test_not_an_image(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n" * 20)
    _fails(text, r"not a recognised image")


def test_truncated_png(tmp_path):
    path = tmp_path / "cut.png"
    noise = np.random.default_rng(0).integers(0, 255, (300, 300), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    path.write_bytes(path.read_bytes()[:20000])
    _fails(path, r"damaged or truncated")


def test_missing_decoder_names_the_extra(tmp_path, monkeypatch):
    def no_decoder(*args, **kwargs):
        raise RuntimeError("Unable to decode as there are no pixel data decoders available")

    class Unavailable:
        is_available = False

    monkeypatch.setattr("explainmyxray.imaging.dicom.pixel_array", no_decoder)
    monkeypatch.setattr("explainmyxray.imaging.dicom.get_decoder", lambda syntax: Unavailable())
    _fails(
        shared_file("dicom/siim_chest_cr_jpeg.dcm"),
        r"JPEG Baseline \(Process 1\).*no pixel data decoders.*explainmyxray\[dicom\]",
    )


def test_jpeg_ls_decodes_with_the_pylibjpeg_plugin():
    pytest.importorskip("libjpeg", reason="pylibjpeg-libjpeg decodes JPEG-LS")
    image, metadata = read_xray(pydicom_file("JPEGLSNearLossless_08.dcm"))
    assert image.pixels.shape == (45, 10)
    assert "JPEG-LS" in str(metadata["transfer_syntax"])


def test_bare_data_set_needs_force(tmp_path):
    chest = np.round(synthetic_chest() * 4095).astype(np.uint16)
    path = write_dicom(tmp_path / "full.dcm", chest, bits_stored=12)
    ds = dcmread(path)
    bare = tmp_path / "bare.dcm"
    del ds.file_meta
    ds.preamble = None
    ds.save_as(bare, implicit_vr=True, little_endian=True, enforce_file_format=False)
    _fails(bare, r"not a DICOM Part 10 file.*force_dicom")
    image, _ = read_xray(bare, force_dicom=True)
    assert "read without DICOM file meta information (force_dicom)" in image.notes
    reference, _ = read_xray(path)
    assert np.array_equal(image.pixels, reference.pixels)
