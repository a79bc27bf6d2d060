"""Per-case output files written beside ``report.json``."""

from __future__ import annotations

from pathlib import Path

from explainmyxray.core.case import Case

from .overlay import write_overlay

OVERLAY_FILE = "overlay.png"


def write_case_outputs(case: Case, case_dir: Path) -> list[Path]:
    """Write ``overlay.png`` into ``case_dir`` when the case has image pixels in memory.

    The file is written atomically (a temporary file in ``case_dir``, then ``os.replace``), so a
    crash never leaves a half-written overlay. Returns the paths written (empty without an image).
    """
    if case.image is None or case.image.pixels is None:
        return []
    return [write_overlay(case, Path(case_dir) / OVERLAY_FILE)]
