"""Inputs found by content, sidecars by exact stem, duplicates folded, ids from content."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from explainmyxray.core.inputs import (
    case_id,
    detect_format,
    expand_inputs,
    identify_inputs,
    sidecar,
)

UID_NAME = "CR.1.2.392.200036.9125.9.0.152034855.946029"


def _png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path, format="PNG")
    return path


def _dicom(path: Path) -> Path:
    from pydicom.data import get_testdata_file

    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(str(get_testdata_file("MR_small.dcm")), path)
    return path


def test_files_named_by_uid_without_an_extension_are_found(tmp_path):
    dicom = _dicom(tmp_path / "store" / UID_NAME)
    png = _png(tmp_path / "store" / "scan.7")  # a PNG whose name ends in a dotted number
    (tmp_path / "store" / "notes.1.2").write_text("not an image")
    (tmp_path / "store" / ".hidden.dcm").write_bytes(dicom.read_bytes())
    assert sorted(expand_inputs([tmp_path / "store"])) == sorted([dicom, png])


def test_content_decides_not_the_extension(tmp_path):
    png_named_dcm = _png(tmp_path / "image.dcm")
    dicom_named_png = _dicom(tmp_path / "image.png")
    (tmp_path / "text.png").write_text("hello")
    assert detect_format(png_named_dcm) == "raster"
    assert detect_format(dicom_named_png) == "dicom"
    assert detect_format(tmp_path / "text.png") is None
    assert sorted(expand_inputs([tmp_path])) == sorted([png_named_dcm, dicom_named_png])


def test_a_dicom_data_set_without_preamble_is_recognised(tmp_path):
    ds = pydicom.dcmread(_dicom(tmp_path / "full.dcm"))
    bare = tmp_path / "bare" / "1.2.3.4"
    bare.parent.mkdir()
    del ds.file_meta
    ds.preamble = None
    ds.save_as(bare, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert bare.read_bytes()[128:132] != b"DICM"
    assert detect_format(bare) == "dicom"
    assert expand_inputs([bare.parent]) == [bare]


def test_sidecars_match_the_exact_stem(tmp_path):
    image = _dicom(tmp_path / "IMG.1.2.840.7777.5.6")
    (tmp_path / "IMG.1.2.840.7777.5.txt").write_text("the report of another image")
    assert sidecar(image) is None
    (tmp_path / "IMG.1.2.840.7777.5.6.txt").write_text("its own report")
    assert sidecar(image) == "its own report"
    png = _png(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("stem sidecar")
    assert sidecar(png) == "stem sidecar"


def test_the_same_file_through_two_paths_is_one_input(tmp_path):
    png = _png(tmp_path / "in" / "x.png")
    detour = tmp_path / "in" / ".." / "in" / "x.png"
    (tmp_path / "link.png").symlink_to(png)
    assert expand_inputs([png, detour, tmp_path / "link.png"]) == [png]


def test_copies_with_the_same_bytes_are_one_case_under_the_first_path(tmp_path):
    first = _png(tmp_path / "a" / "x.png", value=7)
    copy = tmp_path / "b" / "y.png"
    copy.parent.mkdir()
    shutil.copyfile(first, copy)
    other = _png(tmp_path / "c.png", value=9)
    (one, two) = identify_inputs([first, copy, other])
    assert one.path == first and one.duplicates == (copy,)
    assert two.path == other and one.case_id != two.case_id


def test_case_ids_come_from_content_not_the_path(tmp_path):
    named = _png(tmp_path / "DOE_JOHN_19600101_MRN12345" / "DOE_JOHN.png", value=3)
    moved = tmp_path / "elsewhere" / "renamed.png"
    moved.parent.mkdir()
    shutil.move(named, moved)
    neutral = case_id(moved)
    assert neutral == case_id(_png(tmp_path / "again.png", value=3))
    assert neutral.startswith("case-") and "DOE" not in neutral and "renamed" not in neutral
    assert case_id(moved, keep_phi=True) == f"renamed-{neutral.removeprefix('case-')}"


@pytest.mark.parametrize("name", ["x.png", "in/x.png"])
def test_a_missing_argument_is_still_a_usage_error(tmp_path, name):
    from explainmyxray.core.errors import UsageError

    with pytest.raises(UsageError, match="no such file or folder"):
        expand_inputs([tmp_path / name])
