"""Hostile files: decompression bombs of every syntax, the modality gate, decoder logging."""

from __future__ import annotations

import logging
import tracemalloc
from pathlib import Path

import pydicom
import pytest

from explainmyxray.core.errors import InputError
from explainmyxray.imaging import read_xray
from explainmyxray.imaging.subject import RADIOGRAPHY

from . import bombs
from .conftest import pydicom_file

ANY = {"modalities": ["*"], "body_parts": ["*"]}


@pytest.fixture(scope="module")
def bomb_files(tmp_path_factory) -> dict[str, Path]:
    return bombs.write_all(tmp_path_factory.mktemp("bombs"))


@pytest.mark.parametrize(
    "name",
    [
        *bombs.NATIVE_SYNTAXES,
        "deflated",
        *bombs.COMPRESSED_SOURCES,
        *(f"{n}-lying-header" for n in bombs.COMPRESSED_SOURCES if n != "rle"),
        "rle-runs",
        "png",
        "tiff",
        "jpeg",
    ],
)
def test_every_bomb_is_refused_before_decoding_with_bounded_memory(bomb_files, name):
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"(limit|beyond the header).*not (decoded|read)"):
            read_xray(bomb_files[name], **ANY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the whole file may be read (it is small); nothing near the declared size is allocated
    assert peak < 64 * 2**20, f"{name}: {peak / 2**20:.0f} MiB allocated"


def test_the_limit_is_an_option_and_a_file_within_it_reads(tmp_path):
    path = bombs.deflated_bomb(tmp_path / "small-deflated.dcm", rows=600, cols=500)
    image, _ = read_xray(path, **ANY)
    assert (image.height, image.width) == (600, 500)
    with pytest.raises(InputError, match=r"600 × 500 pixels .* = 600,000 bytes decoded, over"):
        read_xray(path, max_image_mib=0.5, **ANY)
    native = pydicom_file("MR_small.dcm")  # 64 x 64 x 2 bytes = 8 KiB
    with pytest.raises(InputError, match=r"64 × 64 pixels .* = 8,192 bytes decoded, over"):
        read_xray(native, max_image_mib=0.005, **ANY)


@pytest.mark.parametrize(
    ("name", "modality"),
    [("CT_small.dcm", "CT"), ("MR_small.dcm", "MR"), ("US1_J2KR.dcm", "US")],
)
def test_ct_mr_and_ultrasound_fail_naming_the_modality_unless_allowed(name, modality):
    path = pydicom_file(name)
    with pytest.raises(InputError, match=rf"modality {modality} .*not chest radiography"):
        read_xray(path, modalities=RADIOGRAPHY)
    image, _ = read_xray(path, modalities=["*"], body_parts=["*"])
    assert image.width > 0


def test_modality_implied_by_the_sop_class_when_the_attribute_is_absent(tmp_path):
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    del ds.Modality
    ds.save_as(tmp_path / "ct.dcm")
    with pytest.raises(InputError, match=r"modality CT \(CT Image Storage\)"):
        read_xray(tmp_path / "ct.dcm", modalities=RADIOGRAPHY)


def test_a_body_part_other_than_the_chest_fails(tmp_path):
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ds.Modality, ds.BodyPartExamined = "DX", "HAND"
    ds.save_as(tmp_path / "hand.dcm")
    with pytest.raises(InputError, match=r"body part HAND is not the chest"):
        read_xray(tmp_path / "hand.dcm", modalities=RADIOGRAPHY, body_parts=["CHEST"])


@pytest.mark.parametrize("name", ["JPEG2000-embedded-sequence-delimiter.dcm", "JPEG-lossy.dcm"])
def test_decoder_failures_are_one_line_without_logged_tracebacks(name, caplog):
    path = pydicom_file(name)
    with caplog.at_level(logging.WARNING), pytest.raises(InputError) as info:
        read_xray(path, **ANY)
    message = str(info.value)
    assert "\n" not in message
    assert "pip install" not in message  # the decoders are installed: do not suggest them
    assert not [r for r in caplog.records if r.name.startswith("pydicom")]
