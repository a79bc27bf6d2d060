"""Fixtures for the imaging tests: real files (skipped when absent) and synthetic ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ComputedRadiographyImageStorage, ExplicitVRLittleEndian, generate_uid

from tests.conftest import SHARED_DATA

CXR_FILES = sorted((SHARED_DATA / "cxr").glob("*")) if SHARED_DATA.is_dir() else []
DICOM_FILES = sorted((SHARED_DATA / "dicom").glob("*")) if SHARED_DATA.is_dir() else []


def pydicom_file(name: str) -> Path:
    """A file of pydicom's own test set or of pydicom-data; skips when it is not installed."""
    from pydicom.data import get_testdata_file

    try:
        found = get_testdata_file(name)
    except Exception as exc:  # pydicom-data may try a download when the file is absent
        pytest.skip(f"pydicom test file {name} unavailable: {exc}")
    if found is None:
        pytest.skip(f"pydicom test file {name} is not installed (pip install pydicom-data)")
    return Path(str(found))


def shared_file(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent (see shared/data/README.md)")
    return path


def mediastinum_margin(pixels: np.ndarray) -> float:
    """Median of the central column minus the brighter of the two lung fields' medians.

    Positive on a frontal chest shown bright = dense: spine and mediastinum are denser than the
    aerated lungs. Deliberately simpler than the package's layout analysis (fixed regions).
    """
    h, w = pixels.shape
    rows = slice(int(0.3 * h), int(0.6 * h))
    centre = np.median(pixels[rows, int(0.45 * w) : int(0.55 * w)])
    lung_rows = slice(int(0.25 * h), int(0.55 * h))
    left = np.median(pixels[lung_rows, int(0.15 * w) : int(0.35 * w)])
    right = np.median(pixels[lung_rows, int(0.65 * w) : int(0.85 * w)])
    return float(centre - max(left, right))


def synthetic_chest(height: int = 400, width: int = 360, seed: int = 0) -> np.ndarray:
    """A cartoon frontal chest in ``[0, 1]``, bright = dense: air, body, two lungs, spine."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = (x - width / 2) / (width / 2), (y - height / 2) / (height / 2)
    image = np.full((height, width), 0.05, dtype=np.float32)
    body = (u / 0.9) ** 2 + (v / 1.1) ** 2 < 1
    image[body] = 0.6
    for side in (-1, 1):
        lung = ((u - side * 0.42) / 0.3) ** 2 + ((v + 0.1) / 0.6) ** 2 < 1
        image[lung] = 0.25
    image[np.abs(u) < 0.1] = np.maximum(image[np.abs(u) < 0.1], 0.85)
    image[v > 0.55] = np.maximum(image[v > 0.55], 0.7 * body[v > 0.55])
    image += rng.normal(0, 0.02, image.shape).astype(np.float32)
    return np.clip(image, 0, 1)


def write_dicom(
    path: Path,
    stored: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    **attributes: object,
) -> Path:
    """Write an uncompressed CR DICOM file of ``stored`` (2-D, or frames x rows x columns)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ComputedRadiographyImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = ComputedRadiographyImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.BodyPartExamined = "CHEST"
    ds.PatientName = "Synthetic^Patient"
    ds.PatientID = "SYN-0001"
    if stored.ndim == 3:
        ds.NumberOfFrames = stored.shape[0]
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    allocated = 8 if stored.dtype == np.uint8 else 16
    ds.BitsAllocated = allocated
    ds.BitsStored = bits_stored or allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if stored.dtype.kind == "i" else 0
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.PixelData = np.ascontiguousarray(stored).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def chest12() -> np.ndarray:
    """The synthetic chest as 12-bit stored values (bright = dense)."""
    return np.round(synthetic_chest() * 4095).astype(np.uint16)
