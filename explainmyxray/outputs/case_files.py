"""Per-case output files written beside ``report.json``."""

from __future__ import annotations

from pathlib import Path

from explainmyxray.core.case import Case
from explainmyxray.core.results import atomic_write_bytes

from .images import fit, pixels_to_image
from .overlay import write_overlay

OVERLAY_FILE = "overlay.png"
IMAGE_FILE = "image.jpg"
ORIGINAL_MAX_SIDE = 2048


def write_case_outputs(case: Case, case_dir: Path) -> list[Path]:
    """Write ``overlay.png`` and a downscaled ``image.jpg`` when the case has pixels in memory.

    The run's ``index.html`` shows cases from these files once their pixels are released. Files
    are written atomically (a temporary file in ``case_dir``, then ``os.replace``), so a crash
    never leaves a half-written one. Returns the paths written (empty without an image).
    """
    if case.image is None or case.image.pixels is None:
        return []
    import io

    buffer = io.BytesIO()
    fit(pixels_to_image(case.image.pixels), ORIGINAL_MAX_SIDE).save(
        buffer, format="JPEG", quality=90
    )
    image_path = Path(case_dir) / IMAGE_FILE
    atomic_write_bytes(image_path, buffer.getvalue())
    return [write_overlay(case, Path(case_dir) / OVERLAY_FILE), image_path]
