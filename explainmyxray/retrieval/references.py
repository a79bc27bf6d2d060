"""Reference cases to index: a folder of radiographs with report sidecars, or a JSONL file.

A folder is searched recursively for images (DICOM, PNG, JPEG, TIFF); each image's report is its
sidecar ``<image>.txt`` (or ``<stem>.txt``), and an image without one is left out and counted.
A JSONL file holds one object per line: ``{"report": ..., "image": ..., "labels": [...],
"id": ...}``; only ``report`` is required, ``image`` is relative to the file's folder. Labels
that are not given are the findings the report states as present (read with the report parser).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import InputError, UsageError


@dataclass(frozen=True)
class Reference:
    """One reference case: its report, its labels, and its image if it has one."""

    id: str
    report: str
    labels: tuple[str, ...] = ()
    image: Path | None = None


@dataclass
class ReferenceSet:
    references: list[Reference]
    source: Path
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(path or line, why) of each input left out."""


def load_references(source: Path) -> ReferenceSet:
    """The references of a folder (images + sidecar reports) or of a ``.jsonl`` file."""
    source = Path(source).expanduser()
    if source.is_dir():
        return _from_folder(source)
    if source.is_file() and source.suffix.lower() in {".jsonl", ".ndjson"}:
        return _from_jsonl(source)
    if source.is_file():
        raise UsageError(f"{source}: give a folder of images with .txt reports, or a .jsonl file")
    raise UsageError(f"{source}: no such folder or file")


def present_labels(report: str) -> tuple[str, ...]:
    """The findings a report states as present, by its PadChest labels (none if unreadable)."""
    try:
        from ..report.parse import parse_report
    except ImportError:
        return ()
    parsed = parse_report(report, source="reference")
    return tuple(dict.fromkeys(f.label for f in parsed.findings if f.status == "present"))


def _from_folder(folder: Path) -> ReferenceSet:
    from ..core.inputs import expand_inputs, sidecar

    references: list[Reference] = []
    skipped: list[tuple[str, str]] = []
    for image in expand_inputs([folder]):
        report = sidecar(image)
        if report is None or not report.strip():
            skipped.append((str(image), "no report sidecar (<image>.txt)"))
            continue
        references.append(
            Reference(
                id=image.relative_to(folder).as_posix(),
                report=report.strip(),
                labels=present_labels(report),
                image=image.absolute(),
            )
        )
    if not references:
        raise UsageError(
            f"{folder}: no image with a report sidecar (<image>.txt) to index"
            + (f"; {len(skipped)} image(s) had none" if skipped else "")
        )
    return ReferenceSet(references, folder, skipped)


def _from_jsonl(path: Path) -> ReferenceSet:
    references: list[Reference] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise UsageError(f"{where}: not valid JSON ({exc})") from exc
            reference = _reference(record, where, path.parent, number)
            if reference.id in seen:
                raise UsageError(f"{where}: id {reference.id!r} appears twice")
            seen.add(reference.id)
            references.append(reference)
    if not references:
        raise UsageError(f"{path}: no records")
    return ReferenceSet(references, path)


def _reference(record: Any, where: str, base: Path, number: int) -> Reference:
    if not isinstance(record, dict):
        raise UsageError(f"{where}: expected an object with a 'report'")
    unknown = set(record) - {"id", "image", "report", "labels"}
    if unknown:
        raise UsageError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    report = record.get("report")
    if not isinstance(report, str) or not report.strip():
        raise UsageError(f"{where}: 'report' must be a non-empty string")
    image = record.get("image")
    image_path: Path | None = None
    if image is not None:
        if not isinstance(image, str) or not image:
            raise UsageError(f"{where}: 'image' must be a path")
        image_path = Path(image).expanduser()
        image_path = (image_path if image_path.is_absolute() else base / image_path).absolute()
        if not image_path.is_file():
            raise InputError(f"{where}: image {image_path} does not exist")
    labels = record.get("labels")
    if labels is None:
        label_tuple = present_labels(report)
    elif isinstance(labels, Sequence) and not isinstance(labels, str):
        label_tuple = tuple(str(label) for label in labels)
    else:
        raise UsageError(f"{where}: 'labels' must be a list of strings")
    default_id = image if isinstance(image, str) else f"line-{number}"
    return Reference(
        id=str(record.get("id") or default_id),
        report=report.strip(),
        labels=label_tuple,
        image=image_path,
    )
