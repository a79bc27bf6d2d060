"""Per-case results on disk. Writes are atomic; a failed run never replaces a finished result.

A ``report.json`` that cannot be read back as this version's report (damaged JSON, ``{}``,
another schema version) is moved aside under a new name, kept, and its case is redone. Runs into
one output folder claim each case with an advisory lock (``.locks/<case>.lock``, released by the
kernel when a process dies), so two runs never work on the same case at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from .case import REPORT_SCHEMA_VERSION, Case
from .errors import UsageError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, runs must not share an output folder
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

REPORT_FILE = "report.json"
ERROR_FILE = "error.json"
LOCK_DIR = ".locks"
PHI_DIR = "phi"
SOURCES_FILE = "sources.json"
"""``phi/sources.json``: case id → input path. The one output that holds identifiers."""


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


def prepare_out_dir(out_dir: Path) -> Path:
    """Create ``out_dir`` and prove it writable, before any work (a usage error otherwise)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise UsageError(f"--out {out_dir}: not writable: {exc.strerror or exc}") from exc
    return out_dir


def _read_report(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The report document at ``path`` and, when it is not one of ours, why."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"unreadable ({type(exc).__name__})"
    if not isinstance(document, dict):
        return None, "not a JSON object"
    version = document.get("schema_version")
    if version != REPORT_SCHEMA_VERSION:
        return None, f"schema version {version!r}, not {REPORT_SCHEMA_VERSION!r}"
    return document, None


def set_aside(path: Path, why: str) -> Path:
    """Rename a foreign or damaged result so it is kept but no longer read."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.stem}.set-aside-{stamp}{path.suffix}")
    os.replace(path, target)
    log.warning("%s: %s; moved aside to %s, the case is redone", path, why, target.name)
    return target


def read_finished(out_dir: Path, case_id: str) -> Case | None:
    """The finished case in ``out_dir``, or ``None`` (absent, failed, or set aside as foreign)."""
    path = case_dir(out_dir, case_id) / REPORT_FILE
    document, problem = _read_report(path)
    if problem is None and document is not None:
        document = dict(document)
        document.pop("schema_version", None)
        try:
            case = Case.model_validate(document)
        except ValidationError as exc:
            problem = f"not a valid report ({exc.error_count()} problem(s))"
        else:
            return None if case.failed else case
    if problem is not None:
        set_aside(path, problem)
    return None


def is_finished(out_dir: Path, case_id: str) -> bool:
    """A case is finished when its report.json is this version's report and records no error."""
    document, _ = _read_report(case_dir(out_dir, case_id) / REPORT_FILE)
    return document is not None and not document.get("errors")


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


class CaseClaims:
    """Advisory per-case locks in ``out_dir/.locks``: one run works on a case at a time."""

    def __init__(self, out_dir: Path) -> None:
        self.folder = out_dir / LOCK_DIR
        self._held: dict[str, IO[bytes]] = {}

    def try_claim(self, case_id: str) -> bool:
        """Claim ``case_id`` unless another process holds it (never blocks)."""
        return self._lock(case_id, blocking=False)

    def wait_claim(self, case_id: str) -> None:
        """Claim ``case_id``, waiting for the run that holds it to let go."""
        self._lock(case_id, blocking=True)

    def release(self, case_id: str) -> None:
        fh = self._held.pop(case_id, None)
        if fh is not None:
            fh.close()  # closing drops the lock

    def release_all(self) -> None:
        for case_id in list(self._held):
            self.release(case_id)

    def _lock(self, case_id: str, *, blocking: bool) -> bool:
        if case_id in self._held:
            return True
        self.folder.mkdir(parents=True, exist_ok=True)
        fh = (self.folder / f"{case_id}.lock").open("ab")
        if fcntl is not None:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                fh.close()
                return False
        self._held[case_id] = fh
        return True


@contextlib.contextmanager
def claims(out_dir: Path) -> Iterator[CaseClaims]:
    held = CaseClaims(out_dir)
    try:
        yield held
    finally:
        held.release_all()


def write_sources(out_dir: Path, entries: dict[str, dict[str, Any]]) -> Path:
    """Add case id → source path entries to ``phi/sources.json`` (owner-only permissions).

    This file holds the input paths, which carry identifiers; nothing links to it.
    """
    folder = out_dir / PHI_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / SOURCES_FILE
    try:
        previous = json.loads(path.read_text(encoding="utf-8")).get("cases", {})
    except (OSError, ValueError, AttributeError):
        previous = {}
    document = {
        "contains_identifiers": True,
        "note": (
            "Input paths of this run's cases. Paths can hold patient names and ids: keep this "
            "file with the images it points to, not with shared results."
        ),
        "cases": {**(previous if isinstance(previous, dict) else {}), **entries},
    }
    atomic_write_json(path, document)
    os.chmod(path, 0o600)
    return path


def read_sources(out_dir: Path) -> dict[str, str]:
    """Case id → input path from ``phi/sources.json`` (empty when the run wrote none)."""
    try:
        cases = json.loads((out_dir / PHI_DIR / SOURCES_FILE).read_text(encoding="utf-8"))["cases"]
        return {cid: str(entry["source"]) for cid, entry in cases.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
