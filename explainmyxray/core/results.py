"""Per-case results on disk. Writes are atomic; a failed run never replaces a finished result."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .case import Case

REPORT_FILE = "report.json"
ERROR_FILE = "error.json"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary file and ``os.replace``. The file gets the mode an
    ordinary ``open()`` would give it (0666 less the umask), not mkstemp's private 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, document: Any) -> None:
    atomic_write_bytes(path, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode())


def case_dir(out_dir: Path, case_id: str) -> Path:
    return out_dir / "cases" / case_id


def is_finished(out_dir: Path, case_id: str) -> bool:
    """A case is finished when its report.json exists and records no error."""
    path = case_dir(out_dir, case_id) / REPORT_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return not document.get("errors")


def load_case(out_dir: Path, case_id: str) -> Case:
    document = json.loads((case_dir(out_dir, case_id) / REPORT_FILE).read_text(encoding="utf-8"))
    document.pop("schema_version", None)
    return Case.model_validate(document)


def write_case_report(case: Case, out_dir: Path) -> Path:
    """Write ``report.json``; a failed case goes to ``error.json`` if a good report is there."""
    target = case_dir(out_dir, case.id)
    if case.failed and is_finished(out_dir, case.id):
        path = target / ERROR_FILE
    else:
        path = target / REPORT_FILE
        (target / ERROR_FILE).unlink(missing_ok=True)
    atomic_write_json(path, case.to_report())
    return path
