"""``sr.dcm`` and ``seg.dcm`` (and ``sc.dcm``) beside a case's ``report.json``.

:func:`dicom_case_writer` makes the case writer ``explainmyxray run --dicom-outputs`` adds; it
writes each file atomically and returns the paths written. ``sc.dcm`` is the Secondary Capture
the results reference when they cannot reference the source DICOM (see :mod:`.evidence`).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from ..core.case import Case
from ..core.results import atomic_write_bytes
from .evidence import evidence_for

SR_FILE = "sr.dcm"
SEG_FILE = "seg.dcm"
SC_FILE = "sc.dcm"
DICOM_FILES = (SC_FILE, SR_FILE, SEG_FILE)
"""In the order a PACS should receive them: the referenced image first."""


def dicom_case_writer(*, keep_phi: bool) -> Callable[[Case, Path], list[Path]]:
    def write_dicom_outputs(case: Case, case_dir: Path) -> list[Path]:
        return write_dicom_files(case, Path(case_dir), keep_phi=keep_phi)

    return write_dicom_outputs


def write_dicom_files(case: Case, case_dir: Path, *, keep_phi: bool) -> list[Path]:
    """Write the case's DICOM results; nothing for a case without an image or a report."""
    from .seg import build_seg
    from .sr import build_sr

    for name in DICOM_FILES:  # a rerun must not leave files of an earlier run's identity
        (case_dir / name).unlink(missing_ok=True)
    if case.failed or case.image is None or case.image.pixels is None:
        return []
    evidence = evidence_for(case, keep_phi=keep_phi)
    objects = {
        SR_FILE: build_sr(case, evidence.image),
        SEG_FILE: build_seg(case, evidence.image),
    }
    if not any(objects.values()):
        return []
    objects[SC_FILE] = evidence.secondary_capture
    written = []
    for name in DICOM_FILES:
        dataset = objects.get(name)
        if dataset is not None:
            path = case_dir / name
            atomic_write_bytes(path, encode(dataset))
            written.append(path)
    return written


def encode(dataset: Dataset) -> bytes:
    """The data set as a DICOM Part 10 file (preamble, file meta, then the data set)."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()
