"""Turning the user's input arguments (files, folders, globs) into a list of image files."""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterable
from pathlib import Path

from .errors import UsageError

IMAGE_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg", ".tif", ".tiff"})


def _is_dicom_without_suffix(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _is_input(path: Path) -> bool:
    if path.name.startswith("."):
        return False
    return path.suffix.lower() in IMAGE_SUFFIXES or (
        path.suffix == "" and _is_dicom_without_suffix(path)
    )


def expand_inputs(args: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders searched recursively for images; globs expanded. Sorted, unique.

    An argument that matches nothing is a usage error naming it.
    """
    found: dict[Path, None] = {}
    for arg in args:
        text = str(arg)
        path = Path(text).expanduser()
        if path.is_file():
            found[path] = None
        elif path.is_dir():
            for p in sorted(path.rglob("*")):
                if p.is_file() and _is_input(p):
                    found[p] = None
        elif glob.has_magic(text):
            matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
            files = [m for m in matches if m.is_file() and _is_input(m)]
            if not files:
                raise UsageError(f"{text}: the pattern matches no image files")
            found.update(dict.fromkeys(files))
        else:
            raise UsageError(f"{text}: no such file or folder")
    return list(found)


def case_id(path: Path) -> str:
    """A stable, file-system-safe id: the file stem plus a short hash of the absolute path."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in path.stem)[:60]
    return f"{stem}-{digest}"


def sidecar(path: Path) -> str | None:
    """The report text beside an image: ``<image>.txt`` (e.g. ``a.dcm.txt``) or ``<stem>.txt``."""
    for candidate in (path.with_name(path.name + ".txt"), path.with_suffix(".txt")):
        if candidate != path and candidate.is_file():
            return candidate.read_text(encoding="utf-8", errors="replace")
    return None
