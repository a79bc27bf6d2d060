"""Fixtures: real PadChest rows with placeholder images, and a tiny MedGemma built offline."""

from __future__ import annotations

import csv
import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

PADCHEST = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz"
N_ROWS = 20
MISSING = 2  # frontal rows whose image is not written


@dataclass(frozen=True)
class PadChestFixture:
    table: Path
    images: Path
    rows: list[dict[str, str]]
    missing: list[str]


def padchest_table() -> Path:
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torchxrayvision is not installed (it ships the PadChest label table)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / PADCHEST
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def padchest_records() -> tuple[list[str], list[dict[str, str]]]:
    """The header and the first rows of the real PadChest table."""
    with gzip.open(padchest_table(), "rt", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = [row for _, row in zip(range(N_ROWS), reader, strict=False)]
        return list(reader.fieldnames or []), rows


def write_table(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_placeholder(path: Path, seed: int, size: int = 64) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
    Image.fromarray(pixels, mode="L").save(path)


@pytest.fixture(scope="session")
def padchest(padchest_records, tmp_path_factory) -> PadChestFixture:
    """Real rows in a CSV; a PNG per row in its ``ImageDir`` subfolder, except ``MISSING`` of
    the frontal ones."""
    header, rows = padchest_records
    root = tmp_path_factory.mktemp("padchest")
    table = write_table(root / "padchest.csv", header, rows)
    images = root / "images"
    frontal = [r["ImageID"] for r in rows if r["Projection"] in ("PA", "AP", "AP_horizontal")]
    missing = frontal[-MISSING:]
    for index, row in enumerate(rows):
        if row["ImageID"] not in missing:
            write_placeholder(images / row["ImageDir"] / row["ImageID"], seed=index)
    return PadChestFixture(table=table, images=images, rows=rows, missing=missing)


@pytest.fixture(scope="session")
def tiny_medgemma(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from explainmyxray.models.vision_language.medgemma.tiny import build_tiny_medgemma

    return build_tiny_medgemma(tmp_path_factory.mktemp("tiny-medgemma"))
