"""Training examples: a chest radiograph and the structured report the generator should write.

Sources
-------
``padchest``
    The PadChest label table (torchxrayvision's
    ``PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz`` or a CSV of the same columns) and a
    folder of the user's PadChest images, found as ``IMAGES/ImageID`` or
    ``IMAGES/ImageDir/ImageID``. The findings of a row, with the locations of the sentences they
    occur in, are read by :func:`explainmyxray.scoring.references.padchest_findings` (the reader
    the scoring uses); the target text is their structured report (FINDINGS → LOCATIONS →
    IMPRESSION) written by :func:`explainmyxray.report.render.render_report`.
``jsonl``
    One JSON object per line, either ``{"image": path, "report": text}`` (the report is the
    target as written) or ``{"image": path, "labels": [...], "locations": {label: [...]}}``
    (rendered like PadChest rows). Optional: ``"id"``, ``"patient"`` (splits keep a patient's
    images together; without it each image is its own patient) and ``"split"`` (``train`` /
    ``validation`` / ``test``: given on every line or on none). Relative image paths are taken
    from the images folder if one is given, else from the JSONL file's folder. A malformed line is
    an error naming the line.

Nothing is dropped silently: rows left out are counted in the summary by reason (projection,
unreadable label list, no usable labels, only administrative labels, image not found), with the
first image names of each.

Splits are by patient (``PatientID``): no patient has images in two splits. Patients are shuffled
with a seed; the validation and test splits take whole patients until they hold their fraction of
the examples, patients with physician-labelled rows (``MethodLabel == "Physician"``) first unless
``physician_validation`` is off; the rest is the training split.
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from explainmyxray.core.case import Finding, StructuredReport
from explainmyxray.core.errors import InputError, UsageError
from explainmyxray.scoring.references import (
    ReferenceFinding,
    _open_text,
    image_key,
    padchest_findings,
)

Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")
FRONTAL_PROJECTIONS: tuple[str, ...] = ("PA", "AP", "AP_horizontal")
LATERAL_PROJECTION = "L"
ADMINISTRATIVE_LABELS: tuple[str, ...] = ("unchanged", "suboptimal study")
"""Labels an image alone cannot support (a comparison with a prior study, a judgement of the
study's quality); left out of the targets like the generator's prompt leaves them out. PadChest's
``exclude`` rows are skipped by the PadChest reader itself."""
PHYSICIAN = "Physician"
SHOWN_NAMES = 10
PADCHEST_COLUMNS = ("ImageID", "Labels", "PatientID", "Projection")
NORMAL = "normal"
NORMAL_IMPRESSION = "Normal chest radiograph."


class DataOptions(BaseModel):
    """How examples are chosen and split (the ``data:`` section of a training config)."""

    model_config = ConfigDict(extra="forbid")

    projections: list[str] = Field(
        default_factory=lambda: list(FRONTAL_PROJECTIONS),
        description="PadChest Projection values kept (frontal views by default)",
    )
    include_lateral: bool = Field(False, description="also keep lateral views (Projection L)")
    validation_fraction: float = Field(0.05, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.05, ge=0.0, lt=1.0)
    seed: int = 0
    physician_validation: bool = Field(
        True, description="fill validation and test with physician-labelled patients first"
    )
    drop_labels: list[str] = Field(
        default_factory=lambda: list(ADMINISTRATIVE_LABELS),
        description="labels left out of the target reports",
    )

    @model_validator(mode="after")
    def _fractions(self) -> DataOptions:
        if self.validation_fraction + self.test_fraction >= 1.0:
            raise ValueError("validation_fraction + test_fraction must leave examples to train on")
        return self

    def kept_projections(self) -> set[str]:
        kept = set(self.projections)
        if self.include_lateral:
            kept.add(LATERAL_PROJECTION)
        return kept


@dataclass(frozen=True)
class TrainingExample:
    """One (image, target report) pair; ``findings`` are the reference the metrics compare with."""

    key: str
    image: Path
    report: str
    findings: tuple[ReferenceFinding, ...]
    patient: str
    split: Split = "train"
    physician: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "image": str(self.image),
            "split": self.split,
            "labels": [f.label for f in self.findings],
        }


@dataclass
class Skipped:
    """Rows left out for one reason: how many, and the first few image names."""

    count: int = 0
    first: list[str] = field(default_factory=list)

    def add(self, name: str) -> None:
        self.count += 1
        if len(self.first) < SHOWN_NAMES:
            self.first.append(name)

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "first": list(self.first)}


@dataclass
class TrainingData:
    """The examples of every split and the summary of how they were built."""

    examples: list[TrainingExample]
    summary: dict[str, Any]

    def split(self, name: Split) -> list[TrainingExample]:
        return [e for e in self.examples if e.split == name]

    def write_summary(self, path: Path) -> None:
        from explainmyxray.core.results import atomic_write_json

        atomic_write_json(Path(path), self.summary)


# --- target reports ---------------------------------------------------------------------------


def impression_for(findings: Sequence[ReferenceFinding]) -> str:
    """A one-sentence impression naming the present findings (a normal study says so)."""
    labels = [f.label for f in findings if f.status == "present" and f.label != NORMAL]
    if not labels:
        return NORMAL_IMPRESSION
    sentence = "; ".join(labels)
    return sentence[0].upper() + sentence[1:] + "."


def target_report(findings: Sequence[ReferenceFinding]) -> str:
    """The structured report text the generator is trained to write for these findings."""
    report = StructuredReport(
        findings=[
            Finding(label=f.label, status=f.status, locations=list(f.locations)) for f in findings
        ],
        impression=impression_for(findings),
        source="reference",
    )
    from explainmyxray.report.render import render_report

    return render_report(report)


# --- PadChest ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    key: str
    image: Path
    report: str
    findings: tuple[ReferenceFinding, ...]
    patient: str
    physician: bool
    split: Split | None = None


def find_image(images: Path, image_id: str, image_dir: str) -> Path | None:
    """``IMAGES/ImageID`` or ``IMAGES/ImageDir/ImageID``, whichever exists."""
    for candidate in (images / image_id, images / image_dir / image_id if image_dir else None):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def read_padchest_examples(table: Path, images: Path, options: DataOptions) -> TrainingData:
    """Examples from a PadChest label table and a folder of its images (module docstring)."""
    table, images = Path(table).expanduser(), Path(images).expanduser()
    if not table.is_file():
        raise UsageError(f"PadChest table {table}: no such file")
    if not images.is_dir():
        raise UsageError(f"PadChest images folder {images}: no such folder")
    kept = options.kept_projections()
    drop = set(options.drop_labels)
    projection_counts: Counter[str] = Counter()
    dropped_labels: Counter[str] = Counter()
    skipped = {
        reason: Skipped()
        for reason in ("projection", "unparseable_labels", "no_labels", "only_dropped_labels")
    }
    missing = Skipped()
    rows: list[_Row] = []
    n_rows = 0
    with _open_text(table) as fh:
        reader = csv.DictReader(fh)
        absent = [c for c in PADCHEST_COLUMNS if c not in (reader.fieldnames or ())]
        if absent:
            raise InputError(
                f"{table}: not a PadChest label table; missing columns {', '.join(absent)}"
            )
        for row in reader:
            n_rows += 1
            image_id = row["ImageID"].strip()
            projection = (row.get("Projection") or "").strip()
            if projection not in kept:
                projection_counts[projection or "(empty)"] += 1
                skipped["projection"].add(image_id)
                continue
            try:
                findings = padchest_findings(
                    row["Labels"], row.get("LabelsLocalizationsBySentence") or ""
                )
            except (ValueError, SyntaxError):
                skipped["unparseable_labels"].add(image_id)
                continue
            if findings is None:
                skipped["no_labels"].add(image_id)
                continue
            dropped_labels.update(f.label for f in findings if f.label in drop)
            findings = [f for f in findings if f.label not in drop]
            if not findings:
                skipped["only_dropped_labels"].add(image_id)
                continue
            path = find_image(images, image_id, (row.get("ImageDir") or "").strip())
            if path is None:
                missing.add(image_id)
                continue
            rows.append(
                _Row(
                    key=image_key(image_id),
                    image=path,
                    report=target_report(findings),
                    findings=tuple(findings),
                    patient=(row.get("PatientID") or "").strip() or image_key(image_id),
                    physician=(row.get("MethodLabel") or "").strip() == PHYSICIAN,
                )
            )
    reasons = {name: s.to_json() for name, s in skipped.items()}
    reasons["projection"]["by_value"] = dict(projection_counts.most_common())
    reasons["missing_images"] = missing.to_json()
    return _finish(
        rows,
        options,
        source={"format": "padchest", "table": str(table), "images": str(images)},
        n_rows=n_rows,
        skipped=reasons,
        dropped_labels=dropped_labels,
    )


# --- JSONL ------------------------------------------------------------------------------------


class _JsonExample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str
    report: str | None = None
    labels: list[str] | None = None
    locations: dict[str, list[str]] = Field(default_factory=dict)
    id: str | None = None
    patient: str | None = None
    split: Split | None = None

    @model_validator(mode="after")
    def _one_target(self) -> _JsonExample:
        if (self.report is None) == (self.labels is None):
            raise ValueError('give exactly one of "report" and "labels"')
        if self.report is not None and not self.report.strip():
            raise ValueError('"report" is empty')
        if self.labels is not None:
            if not [x for x in self.labels if x.strip()]:
                raise ValueError('"labels" is empty (write ["normal"] for a normal study)')
            unknown = sorted(set(self.locations) - set(self.labels))
            if unknown:
                raise ValueError(f'"locations" names labels not in "labels": {unknown}')
        elif self.locations:
            raise ValueError('"locations" goes with "labels", not with "report"')
        return self


def _report_findings(text: str) -> tuple[ReferenceFinding, ...]:
    from explainmyxray.report.parse import parse_report

    report = parse_report(text, source="reference")
    return tuple(ReferenceFinding(f.label, f.status, tuple(f.locations)) for f in report.findings)


def read_jsonl_examples(
    path: Path, options: DataOptions, images: Path | None = None
) -> TrainingData:
    """Examples from a JSONL file (module docstring); a malformed line is an InputError."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"JSONL data {path}: no such file")
    base = Path(images).expanduser() if images is not None else path.parent
    drop = set(options.drop_labels)
    dropped_labels: Counter[str] = Counter()
    skipped = {"only_dropped_labels": Skipped()}
    missing = Skipped()
    rows: list[_Row] = []
    n_rows = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        n_rows += 1
        try:
            doc = _JsonExample.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: invalid JSON: {exc}") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
            )
            raise InputError(f"{path}:{number}: not a training example: {problems}") from exc
        image = Path(doc.image).expanduser()
        image = image if image.is_absolute() else base / image
        key = doc.id or image_key(image.name)
        if doc.labels is not None:
            labels = list(dict.fromkeys(x.strip() for x in doc.labels if x.strip()))
            dropped_labels.update(x for x in labels if x in drop)
            findings = tuple(
                ReferenceFinding(x, "present", tuple(doc.locations.get(x, ())))
                for x in labels
                if x not in drop
            )
            if not findings:
                skipped["only_dropped_labels"].add(key)
                continue
            report = target_report(findings)
        else:
            report = (doc.report or "").strip() + "\n"
            findings = _report_findings(report)
        if not image.is_file():
            missing.add(str(image))
            continue
        rows.append(
            _Row(
                key=key,
                image=image,
                report=report,
                findings=findings,
                patient=doc.patient or key,
                physician=False,
                split=doc.split,
            )
        )
    given = {row.split is not None for row in rows}
    if given == {True, False}:
        raise InputError(f'{path}: "split" is given on some lines but not on all')
    reasons = {name: s.to_json() for name, s in skipped.items()}
    reasons["missing_images"] = missing.to_json()
    return _finish(
        rows,
        options,
        source={"format": "jsonl", "file": str(path), "images": str(base)},
        n_rows=n_rows,
        skipped=reasons,
        dropped_labels=dropped_labels,
    )


# --- splits and summary -----------------------------------------------------------------------


def split_patients(
    sizes: Mapping[str, int],
    physician: Mapping[str, bool],
    fractions: Mapping[Split, float],
    seed: int,
    prefer_physician: bool = True,
) -> dict[str, Split]:
    """Each patient's split: validation and test take whole patients until they hold their
    fraction of the examples (at least one patient each when the fraction is not 0 and more
    than one patient is left); every other patient trains."""
    order = sorted(sizes)
    random.Random(seed).shuffle(order)
    if prefer_physician:
        order.sort(key=lambda p: not physician.get(p, False))  # stable: shuffled within groups
    total = sum(sizes.values())
    assignment: dict[str, Split] = {}
    queue = list(order)
    for split in ("validation", "test"):
        fraction = fractions.get(split, 0.0)
        if fraction <= 0:
            continue
        target = max(1, round(fraction * total))
        held = 0
        while held < target and len(queue) > 1:
            patient = queue.pop(0)
            assignment[patient] = split
            held += sizes[patient]
    for patient in queue:
        assignment[patient] = "train"
    return assignment


def _label_counts(examples: Iterable[TrainingExample]) -> dict[str, int]:
    counts = Counter(f.label for e in examples for f in e.findings if f.status == "present")
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _finish(
    rows: list[_Row],
    options: DataOptions,
    *,
    source: dict[str, str],
    n_rows: int,
    skipped: dict[str, Any],
    dropped_labels: Counter[str],
) -> TrainingData:
    if all(row.split is not None for row in rows) and rows:
        splits = {row.patient: row.split for row in rows}
        clash = sorted({r.patient for r in rows if splits[r.patient] != r.split})
        if clash:
            raise InputError(
                f'patients in two splits in the given "split" fields: {", ".join(clash[:5])}'
            )
        how = "given"
    else:
        sizes = Counter(row.patient for row in rows)
        physician: dict[str, bool] = {}
        for row in rows:
            physician[row.patient] = physician.get(row.patient, False) or row.physician
        splits = split_patients(
            sizes,
            physician,
            {"validation": options.validation_fraction, "test": options.test_fraction},
            options.seed,
            options.physician_validation,
        )
        how = "by patient, seeded"
    examples = [
        TrainingExample(
            key=row.key,
            image=row.image,
            report=row.report,
            findings=row.findings,
            patient=row.patient,
            split=splits[row.patient],  # type: ignore[arg-type]
            physician=row.physician,
        )
        for row in rows
    ]
    per_split = {}
    for name in SPLITS:
        chosen = [e for e in examples if e.split == name]
        per_split[name] = {
            "examples": len(chosen),
            "patients": len({e.patient for e in chosen}),
            "physician_labelled": sum(e.physician for e in chosen),
            "labels": _label_counts(chosen),
        }
    summary = {
        "source": source,
        "options": options.model_dump(mode="json"),
        "rows": n_rows,
        "examples": len(examples),
        "skipped": skipped,
        "dropped_labels": dict(dropped_labels.most_common()),
        "split_method": how,
        "splits": per_split,
        "label_distribution": _label_counts(examples),
    }
    return TrainingData(examples=examples, summary=summary)


def build_training_data(
    options: DataOptions,
    *,
    table: Path | None = None,
    images: Path | None = None,
    jsonl: Path | None = None,
) -> TrainingData:
    """PadChest (``table`` + ``images``) or JSONL (``jsonl``, ``images`` optional) examples."""
    if jsonl is not None:
        if table is not None:
            raise UsageError("give either a JSONL file or a PadChest table, not both")
        return read_jsonl_examples(jsonl, options, images)
    if table is None or images is None:
        raise UsageError("PadChest data needs both the label table and the images folder")
    return read_padchest_examples(table, images, options)
