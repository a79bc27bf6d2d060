"""Free-text reports labeled into structured report cases (``explainmyxray label``).

Each report becomes one :class:`Case` without an image whose ``report`` is the labeler's reading:
one :class:`Finding` per label :func:`fold_mentions` decides (present, uncertain or absent, the
derived ``normal`` included), with the locations and the words of the mentions that decided its
status. ``report.text`` is the text that was labeled, ``report.source`` is ``"labeler"``.

Sources:

* IU X-ray report XML (``NLMCXR_reports.tgz``, a folder of ``*.xml`` or one ``.xml``): the text is
  FINDINGS then IMPRESSION (what the labeler benchmark labels); the case id and ``source`` are the
  report's ``uId`` (``CXR1``), the key the ``iuxray`` reference set knows the report by, so
  ``explainmyxray eval RUN_DIR --reference NLMCXR_reports.tgz`` matches every case;
  ``metadata`` says where the report was read and its split.
* a folder of ``.txt`` reports (or one ``.txt``): the case id is made like ``explainmyxray run``'s
  (file stem and a hash of the path), ``source`` is the file, whose stem is its reference key.

A report without text gets a case that records the error (and no report): ``eval`` counts it as
failed instead of scoring an empty reading.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from ..core.case import Case, CaseError, Finding, StructuredReport, UnmappedStatement
from ..core.errors import UsageError
from ..core.inputs import case_id
from ..core.results import atomic_write_json, write_case_report
from ..datasets.iu_xray import IUReport, default_archive, read_reports, split_reports
from .labeler import Labeler, Mention, default_labeler, fold_mentions

SOURCE = "labeler"
Split = Literal["dev", "held-out", "all"]
SPLITS: tuple[str, ...] = ("dev", "held-out", "all")
IU_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".xml")


def structured_report(
    text: str, *, labeler: Labeler | None = None, impression: str = ""
) -> StructuredReport:
    """The labeler's reading of ``text`` as a structured report (module docstring).

    Each finding's evidence is the sentence of ``text`` that decided it, with its offsets;
    sentences that state what no label names are listed in ``unmapped``.
    """
    labeler = labeler or default_labeler()
    readings = labeler.read(text)
    mentions = [m for r in readings for m in r.mentions if m.kind != "location"]
    statuses = fold_mentions(mentions)
    deciding: dict[str, list[Mention]] = {}
    for mention in mentions:
        if statuses.get(mention.label) == mention.status:
            deciding.setdefault(mention.label, []).append(mention)
    order = [m.label for m in mentions if m.label in statuses]
    labels = list(dict.fromkeys([*order, *statuses]))
    findings = []
    for label in labels:
        decided_by = deciding.get(label, [])
        locations = dict.fromkeys(loc for m in decided_by for loc in m.locations)
        sentence = readings[decided_by[0].sentence].sentence if decided_by else None
        findings.append(
            Finding(
                label=label,
                status=statuses[label],
                locations=list(locations),
                evidence=sentence.text if sentence else None,
                evidence_start=sentence.start if sentence else None,
                evidence_end=sentence.end if sentence else None,
                sources=[SOURCE],
            )
        )
    unmapped = []
    for reading in readings:
        reason = reading.unmapped_reason(labeler.vocabulary.normal_words)
        if reason is not None:
            s = reading.sentence
            unmapped.append(UnmappedStatement(text=s.text, start=s.start, end=s.end, reason=reason))
    return StructuredReport(
        findings=findings, impression=impression, text=text, source=SOURCE, unmapped=unmapped
    )


def _case(
    id_: str,
    source: str,
    text: str,
    metadata: dict[str, str | int | float | None],
    labeler: Labeler,
    impression: str = "",
) -> Case:
    case = Case(id=id_, source=source, metadata=metadata)
    if not text.strip():
        case.errors.append(
            CaseError(
                stage="label",
                plugin=SOURCE,
                error_type="InputError",
                message=f"{metadata.get('report_file') or source}: the report has no text to label",
            )
        )
        return case
    case.report = structured_report(text, labeler=labeler, impression=impression)
    return case


def iu_case(report: IUReport, *, labeler: Labeler | None = None) -> Case:
    """One IU X-ray report as a labeled case (id and source: the report's ``uId``)."""
    metadata: dict[str, str | int | float | None] = {
        "dataset": "iu-xray",
        "report_file": report.where,
        "report_number": report.id,
        "split": report.split,
    }
    return _case(
        report.key,
        report.key,
        report.text,
        metadata,
        labeler or default_labeler(),
        impression=report.impression,
    )


def text_case(path: Path, *, labeler: Labeler | None = None) -> Case:
    """One ``.txt`` report as a labeled case (source: the file)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    metadata: dict[str, str | int | float | None] = {"report_file": str(path)}
    return _case(case_id(path), str(path), text, metadata, labeler or default_labeler())


# --- a whole source ---------------------------------------------------------------------------


def source_kind(path: Path) -> Literal["iuxray", "text"]:
    """Whether ``path`` holds IU X-ray report XML or ``.txt`` reports."""
    if path.is_dir():
        if next(path.rglob("*.xml"), None) is not None:
            return "iuxray"
        if next(path.rglob("*.txt"), None) is not None:
            return "text"
        raise UsageError(f"{path}: no IU X-ray *.xml reports and no *.txt reports in this folder")
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    name = path.name.lower()
    if name.endswith(IU_SUFFIXES):
        return "iuxray"
    if name.endswith(".txt"):
        return "text"
    raise UsageError(
        f"{path}: expected the IU X-ray archive (NLMCXR_reports.tgz), a folder of its XML, "
        "or .txt reports"
    )


def _text_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.txt") if p.is_file() and not p.name.startswith("."))


def iter_cases(
    source: Path, kind: str, split: str = "all", *, labeler: Labeler | None = None
) -> Iterator[Case]:
    """The labeled cases of a source, in report order."""
    labeler = labeler or default_labeler()
    if kind == "iuxray":
        reports = read_reports(source)
        if split != "all":
            dev, held_out = split_reports(reports)
            reports = dev if split == "dev" else held_out
        for report in reports:
            yield iu_case(report, labeler=labeler)
        return
    if split != "all":
        raise UsageError(
            f"--split {split}: splits are defined for IU X-ray reports only (numbers below / from "
            "2000); .txt reports take --split all"
        )
    for path in _text_files(source):
        yield text_case(path, labeler=labeler)


@dataclass
class LabelSummary:
    """What ``label_source`` wrote."""

    source: str
    kind: str
    split: str
    labeled: int = 0
    failed: list[str] = field(default_factory=list)
    other_cases: int = 0
    unmapped: int = 0
    seconds: float = 0.0

    @property
    def cases(self) -> int:
        return self.labeled + len(self.failed)


def label_source(
    source: str | Path | None,
    out_dir: Path,
    split: str = "all",
    *,
    labeler: Labeler | None = None,
) -> LabelSummary:
    """Label every report of ``source`` (default: torchxrayvision's IU X-ray archive) into
    ``out_dir/cases/<id>/report.json`` and write ``out_dir/run.json``."""
    if split not in SPLITS:
        raise UsageError(f"--split {split}: expected one of {', '.join(SPLITS)}")
    path = Path(source).expanduser() if source is not None else default_archive()
    kind = source_kind(path)
    started = time.time()
    summary = LabelSummary(source=str(path), kind=kind, split=split)
    written: set[str] = set()
    for case in iter_cases(path, kind, split, labeler=labeler):
        if case.id in written:
            raise UsageError(f"{path}: two reports share the id {case.id}")
        write_case_report(case, out_dir)
        written.add(case.id)
        if case.failed:
            summary.failed.append(case.id)
        else:
            summary.labeled += 1
            summary.unmapped += len(case.report.unmapped) if case.report is not None else 0
    if not written:
        raise UsageError(f"{path}: no reports to label (split {split})")
    cases_dir = out_dir / "cases"
    summary.other_cases = sum(
        1 for p in cases_dir.iterdir() if p.is_dir() and p.name not in written
    )
    summary.seconds = round(time.time() - started, 3)
    atomic_write_json(out_dir / "run.json", _manifest(summary, started))
    return summary


def _manifest(summary: LabelSummary, started: float) -> dict:
    from .. import __version__

    return {
        "command": "label",
        "labeler": "rule-based (explainmyxray.labeler)",
        "version": __version__,
        "source": summary.source,
        "source_kind": summary.kind,
        "split": summary.split,
        "started": datetime.fromtimestamp(started, timezone.utc).isoformat(),
        "seconds": summary.seconds,
        "summary": {
            "cases": summary.cases,
            "labeled": summary.labeled,
            "failed": len(summary.failed),
            "failures": summary.failed,
            "unmapped_statements": summary.unmapped,
            "other_cases_in_folder": summary.other_cases,
        },
    }
