"""Scoring cases against references: per case (the ``score`` stage) and per run (``eval``).

What is compared
----------------
* **Predicted findings**: ``case.report.findings`` with ``status == "present"`` (absent and
  uncertain findings are not claims that something is there). **Reference findings**: the
  reference's present findings. Both sides are canonicalized by the :class:`Vocabulary`; ``normal``,
  ``exclude`` and ``unchanged`` are dropped.
* **Finding-level F1** over the PadChest labels; **CheXpert F1** after mapping both sides to the 14
  CheXpert classes (``No Finding`` derived) and to the 5 competition classes.
* **Finding+location F1** over ``(label, location)`` pairs, for the labels the reference localizes
  in that case (a reference finding with at least one location): reference pairs of those labels
  against the predicted pairs of the same labels. A prediction's other pairs are not scored here
  (finding-level F1 already counts a wrong finding).
* **Boxes**: the predicted boxes of a finding are the boxes of the regions its grounding lists
  (``case.groundings``), with the region scores; a reference box counts a prediction whose label is
  the same canonical label or hierarchy-related (the soft-match rule). Reference boxes given in
  another image size (``Reference.image_size``, e.g. NIH's 1024 x 1024) are rescaled to the case's
  image size first.

Which cases count
-----------------
A case without a matching reference is listed in ``unmatched`` and scored nowhere. A case that
failed or has no report is counted in ``n_failed`` and scored nowhere (its reference is not
silently dropped: ``n_failed`` says how many). Finding metrics use the cases whose reference has
findings; box metrics the cases whose reference has boxes.

Corpus-level metrics carry percentile bootstrap intervals over cases (:mod:`.bootstrap`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

from explainmyxray.core.case import Case, Score
from explainmyxray.core.errors import InputError, UsageError

from .bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    ConfidenceInterval,
    bootstrap_additive,
    mean_of_defined,
    value_rows,
)
from .boxes import (
    DEFAULT_IOU_THRESHOLDS,
    BoxOutcome,
    PredictedBox,
    ReferenceBox,
    iou_hit_rate,
    mean_iou,
    pointing_hit_rate,
    scale_box,
    score_boxes,
)
from .classification import (
    CHEXPERT_14,
    CHEXPERT_COMPETITION_5,
    case_f1,
    count_matrix,
    macro_f1_from_sums,
    micro_f1_from_sums,
    per_label_table,
    with_no_finding,
)
from .references import Reference, ReferenceSet, case_key, load_references
from .soft_match import SoftMatch, soft_match
from .vocabulary import OntologyVocabulary, Vocabulary, present_labels, related

if TYPE_CHECKING:
    from rich.table import Table

SOFT_MATCH_GOAL = 0.95
CASE_METRICS: tuple[str, ...] = (
    "soft_match",
    "finding_f1",
    "finding_location_f1",
    "chexpert_f1",
    "boxes",
)


# --- one case ------------------------------------------------------------------------------


@dataclass
class CaseComparison:
    """One case set against its reference, in canonical labels."""

    key: str
    has_findings: bool
    predicted: set[str] = field(default_factory=set)
    reference: set[str] = field(default_factory=set)
    match: SoftMatch | None = None
    predicted_pairs: set[tuple[str, str]] = field(default_factory=set)
    reference_pairs: set[tuple[str, str]] = field(default_factory=set)
    localized: bool = False
    predicted_chexpert: set[str] = field(default_factory=set)
    reference_chexpert: set[str] = field(default_factory=set)
    boxes: list[BoxOutcome] = field(default_factory=list)


def predicted_boxes(case: Case) -> list[PredictedBox]:
    """The predicted boxes of a case: one per region of each grounding."""
    return [PredictedBox(g.finding, r.box, r.score) for g in case.groundings for r in g.regions]


def _chexpert(vocabulary: Vocabulary, labels: set[str]) -> set[str]:
    return with_no_finding(c for label in labels for c in vocabulary.to_chexpert(label))


def _pairs(
    vocabulary: Vocabulary, findings: Sequence[Any], labels: set[str]
) -> set[tuple[str, str]]:
    """``(label, location)`` pairs of the findings whose canonical label is in ``labels``."""
    out = set()
    for finding in findings:
        label = vocabulary.finding(finding.label)
        if label not in labels:
            continue
        out.update((label, vocabulary.location(loc)) for loc in finding.locations)
    return out


def _reference_boxes(case: Case, reference: Reference) -> list[ReferenceBox]:
    size = reference.image_size
    if size is None or case.image is None or (case.image.width, case.image.height) == size:
        return list(reference.boxes)
    target = (case.image.width, case.image.height)
    return [ReferenceBox(b.label, scale_box(b.box, size, target)) for b in reference.boxes]


def compare_case(
    case: Case,
    reference: Reference,
    vocabulary: Vocabulary,
    *,
    pointing_tolerance_px: float = 0.0,
) -> CaseComparison:
    """Put a case's report and groundings beside its reference (module rules)."""
    report_findings = [
        f for f in (case.report.findings if case.report else []) if f.status == "present"
    ]
    comparison = CaseComparison(key=case_key(case), has_findings=reference.findings is not None)
    if reference.findings is not None:
        ref_findings = reference.present()
        comparison.predicted = present_labels(vocabulary, [f.label for f in report_findings])
        comparison.reference = present_labels(vocabulary, [f.label for f in ref_findings])
        comparison.match = soft_match(
            [f.label for f in report_findings], [f.label for f in ref_findings], vocabulary
        )
        localized = {
            vocabulary.finding(f.label) for f in ref_findings if f.locations
        } & comparison.reference
        comparison.localized = bool(localized)
        comparison.reference_pairs = _pairs(vocabulary, ref_findings, localized)
        comparison.predicted_pairs = _pairs(vocabulary, report_findings, localized)
        comparison.predicted_chexpert = _chexpert(vocabulary, comparison.predicted)
        comparison.reference_chexpert = _chexpert(vocabulary, comparison.reference)
    if reference.boxes:

        def same_finding(predicted: str, ref: str) -> bool:
            a, b = vocabulary.finding(predicted), vocabulary.finding(ref)
            return a == b or related(vocabulary, a, b)

        comparison.boxes = score_boxes(
            predicted_boxes(case),
            _reference_boxes(case, reference),
            same_finding,
            pointing_tolerance_px,
        )
    return comparison


def _f1_score(metric: str, predicted: set, reference: set) -> Score:
    tp = len(predicted & reference)
    return Score(
        metric=metric,
        value=case_f1(predicted, reference),
        details={"tp": tp, "fp": len(predicted) - tp, "fn": len(reference) - tp},
    )


def case_scores(
    comparison: CaseComparison,
    metrics: Sequence[str] = CASE_METRICS,
    iou_thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
) -> list[Score]:
    """The per-case :class:`Score` list of a comparison (only what this reference allows)."""
    scores: list[Score] = []
    if comparison.has_findings and comparison.match is not None:
        if "soft_match" in metrics:
            scores.append(
                Score(
                    metric="soft_match",
                    value=comparison.match.accuracy,
                    details=comparison.match.details(),
                )
            )
        if "finding_f1" in metrics:
            scores.append(_f1_score("finding_f1", comparison.predicted, comparison.reference))
        if "finding_location_f1" in metrics and comparison.localized:
            scores.append(
                _f1_score(
                    "finding_location_f1",
                    {" | ".join(p) for p in comparison.predicted_pairs},
                    {" | ".join(p) for p in comparison.reference_pairs},
                )
            )
        if "chexpert_f1" in metrics:
            scores.append(
                _f1_score(
                    "chexpert_f1", comparison.predicted_chexpert, comparison.reference_chexpert
                )
            )
    if "boxes" in metrics and comparison.boxes:
        outcomes = comparison.boxes
        per_box = [
            {
                "label": o.label,
                "localized": o.localized,
                "best_iou": o.best_iou,
                "pointing_hit": o.pointing_hit,
                "point": list(o.point) if o.point else None,
            }
            for o in outcomes
        ]
        hits = {f"iou_hit@{t:g}": iou_hit_rate(outcomes, t) for t in iou_thresholds}
        scores.append(
            Score(metric="box_iou", value=mean_iou(outcomes), details={"boxes": per_box, **hits})
        )
        scores.append(Score(metric="pointing_game", value=pointing_hit_rate(outcomes)))
    return scores


def no_reference_score(key: str, source: str) -> Score:
    return Score(
        metric="reference",
        value=None,
        details={"note": f"no reference for key {key!r} in {source or 'the reference set'}"},
    )


# --- a run ---------------------------------------------------------------------------------


class MetricResult(BaseModel):
    """One corpus-level metric with its bootstrap interval (``None`` where undefined)."""

    estimate: float | None
    low: float | None
    high: float | None
    n_cases: int
    description: str = ""


class EvalResult(BaseModel):
    """Everything ``explainmyxray eval`` reports; JSON-ready (``model_dump(mode="json")``)."""

    reference: str
    reference_format: str
    n_cases: int
    n_scored: int
    n_failed: int
    n_with_findings: int
    n_with_boxes: int
    unmatched: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    bootstrap: dict[str, float | int] = Field(default_factory=dict)
    metrics: dict[str, MetricResult] = Field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    soft_match_goal: float = SOFT_MATCH_GOAL
    soft_match_goal_met: bool | None = None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False)


def _metric(ci: ConfidenceInterval, description: str) -> MetricResult:
    return MetricResult(
        estimate=ci.estimate,
        low=ci.low,
        high=ci.high,
        n_cases=ci.n_cases,
        description=description,
    )


def _ratio(numerator: int, denominator: int):
    def from_sums(sums: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return sums[:, numerator] / sums[:, denominator]

    return from_sums


def _box_table(comparisons: Sequence[CaseComparison], thresholds: Sequence[float]) -> list[dict]:
    by_label: dict[str, list[BoxOutcome]] = {}
    for c in comparisons:
        for o in c.boxes:
            by_label.setdefault(o.label, []).append(o)
    rows = []
    for label, outcomes in sorted(by_label.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        row: dict[str, Any] = {
            "label": label,
            "boxes": len(outcomes),
            "localized": sum(o.localized for o in outcomes),
            "mean_iou": mean_iou(outcomes),
            "pointing_game": pointing_hit_rate(outcomes),
        }
        row.update({f"iou_hit@{t:g}": iou_hit_rate(outcomes, t) for t in thresholds})
        rows.append(row)
    return rows


def evaluate_comparisons(
    comparisons: Sequence[CaseComparison],
    *,
    iou_thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> tuple[dict[str, MetricResult], dict[str, list[dict[str, Any]]]]:
    """Corpus metrics (with intervals) and per-label tables of already compared cases."""
    boot = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    metrics: dict[str, MetricResult] = {}
    tables: dict[str, list[dict[str, Any]]] = {}
    with_findings = [c for c in comparisons if c.has_findings and c.match is not None]
    if with_findings:
        matches = [c.match for c in with_findings if c.match is not None]
        metrics["soft_match_accuracy"] = _metric(
            bootstrap_additive(value_rows([m.accuracy for m in matches]), mean_of_defined, **boot),
            "mean over cases of matched / (predicted + reference - matched); goal >= 0.95",
        )
        sums = np.array(
            [[m.n_matched, m.union, len(m.predicted), len(m.reference)] for m in matches],
            dtype=float,
        )
        metrics["soft_match_accuracy_micro"] = _metric(
            bootstrap_additive(sums, _ratio(0, 1), **boot), "sum matched / sum union"
        )
        metrics["soft_match_precision"] = _metric(
            bootstrap_additive(sums, _ratio(0, 2), **boot), "sum matched / sum predicted"
        )
        metrics["soft_match_recall"] = _metric(
            bootstrap_additive(sums, _ratio(0, 3), **boot), "sum matched / sum reference"
        )
        spaces: list[tuple[str, str, list[set], list[set], Sequence[str] | None]] = [
            (
                "finding",
                "PadChest labels",
                [c.predicted for c in with_findings],
                [c.reference for c in with_findings],
                None,
            ),
            (
                "chexpert14",
                "14 CheXpert classes",
                [c.predicted_chexpert for c in with_findings],
                [c.reference_chexpert for c in with_findings],
                CHEXPERT_14,
            ),
            (
                "chexpert5",
                "5 CheXpert competition classes",
                [c.predicted_chexpert for c in with_findings],
                [c.reference_chexpert for c in with_findings],
                CHEXPERT_COMPETITION_5,
            ),
        ]
        localized = [c for c in with_findings if c.localized]
        if localized:
            spaces.append(
                (
                    "finding_location",
                    "(label, location) pairs of reference-localized labels",
                    [c.predicted_pairs for c in localized],
                    [c.reference_pairs for c in localized],
                    None,
                )
            )
        for name, what, predicted, reference, items in spaces:
            labels, counts = count_matrix(predicted, reference, items)
            metrics[f"{name}_f1_micro"] = _metric(
                bootstrap_additive(counts, micro_f1_from_sums, **boot), f"micro F1 over {what}"
            )
            metrics[f"{name}_f1_macro"] = _metric(
                bootstrap_additive(counts, macro_f1_from_sums, **boot), f"macro F1 over {what}"
            )
            if name != "chexpert5":
                tables[name] = per_label_table(labels, counts)
    with_boxes = [c for c in comparisons if c.boxes]
    if with_boxes:
        rows = np.array(
            [
                [
                    sum(o.best_iou for o in c.boxes),
                    len(c.boxes),
                    sum(o.pointing_hit for o in c.boxes),
                    *(sum(o.iou_hit(t) for o in c.boxes) for t in iou_thresholds),
                ]
                for c in with_boxes
            ],
            dtype=float,
        )
        metrics["box_mean_iou"] = _metric(
            bootstrap_additive(rows, _ratio(0, 1), **boot), "mean best IoU per reference box"
        )
        metrics["pointing_game"] = _metric(
            bootstrap_additive(rows, _ratio(2, 1), **boot),
            "share of reference boxes hit by the top region's point",
        )
        for i, t in enumerate(iou_thresholds):
            metrics[f"iou_hit@{t:g}"] = _metric(
                bootstrap_additive(rows, _ratio(3 + i, 1), **boot),
                f"share of reference boxes with best IoU >= {t:g}",
            )
        tables["boxes"] = _box_table(with_boxes, iou_thresholds)
    return metrics, tables


def evaluate_run(
    cases: Sequence[Case],
    references: ReferenceSet,
    *,
    vocabulary: Vocabulary | None = None,
    iou_thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
    pointing_tolerance_px: float = 0.0,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> EvalResult:
    """Score a run's cases against a reference set: all metrics, intervals, per-label tables."""
    vocabulary = vocabulary or default_vocabulary()
    comparisons: list[CaseComparison] = []
    unmatched: list[str] = []
    failed: list[str] = []
    for case in cases:
        reference = references.for_case(case)
        if reference is None:
            unmatched.append(case_key(case))
        elif case.failed or case.report is None:
            failed.append(case.id)
        else:
            comparisons.append(
                compare_case(
                    case, reference, vocabulary, pointing_tolerance_px=pointing_tolerance_px
                )
            )
    metrics, tables = evaluate_comparisons(
        comparisons,
        iou_thresholds=iou_thresholds,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    soft = metrics.get("soft_match_accuracy")
    return EvalResult(
        reference=references.source,
        reference_format=references.format,
        n_cases=len(cases),
        n_scored=len(comparisons),
        n_failed=len(failed),
        n_with_findings=sum(c.has_findings for c in comparisons),
        n_with_boxes=sum(bool(c.boxes) for c in comparisons),
        unmatched=unmatched,
        failed=failed,
        bootstrap={"n_resamples": n_resamples, "confidence": confidence, "seed": seed},
        metrics=metrics,
        tables=tables,
        soft_match_goal_met=None
        if soft is None or soft.estimate is None
        else soft.estimate >= SOFT_MATCH_GOAL,
    )


_VOCABULARY: list[Vocabulary] = []


def default_vocabulary() -> Vocabulary:
    """The PadChest ontology vocabulary, built once per process."""
    if not _VOCABULARY:
        _VOCABULARY.append(OntologyVocabulary())
    return _VOCABULARY[0]


# --- the eval command ----------------------------------------------------------------------


def load_run_cases(run_dir: Path) -> list[Case]:
    """Every ``RUN_DIR/cases/*/report.json`` as a :class:`Case`, in folder order.

    A run without ``--keep-phi`` records its input paths only in ``phi/sources.json``; each
    case's file is taken from there, so references are matched by image name all the same.
    """
    from ..core.results import read_sources

    folder = run_dir / "cases"
    if not folder.is_dir():
        raise UsageError(f"{run_dir}: not a run folder (no cases/ folder inside)")
    paths = read_sources(run_dir)
    cases = []
    for path in sorted(folder.glob("*/report.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            document.pop("schema_version", None)
            case = Case.model_validate(document)
            case.file = paths.get(case.id)
            cases.append(case)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable case report: {exc}") from exc
    if not cases:
        raise UsageError(f"{run_dir}: no cases/*/report.json to evaluate")
    return cases


def case_reference(case: Case, reference: Reference, vocabulary: Vocabulary) -> dict[str, Any]:
    """What the page needs of a case's reference: its present findings, its boxes in the case's
    pixels, and the findings only one side has."""
    document: dict[str, Any] = {
        "source": Path(reference.source).name if reference.source else "reference",
        "boxes": [
            {"label": b.label, "box": b.box.model_dump()} for b in _reference_boxes(case, reference)
        ],
    }
    if reference.boxes:
        comparison = compare_case(case, reference, vocabulary)
        document["box_misses"] = [
            {"label": o.label, "best_iou": o.best_iou}
            for o in comparison.boxes
            if not o.pointing_hit
        ]
    if reference.findings is not None:
        predicted = present_labels(
            vocabulary,
            [
                f.label
                for f in (case.report.findings if case.report else [])
                if f.status == "present"
            ],
        )
        expected = present_labels(vocabulary, [f.label for f in reference.present()])
        document["findings"] = sorted(expected)
        document["missed"] = sorted(expected - predicted)
        document["extra"] = sorted(predicted - expected)
    return document


def write_case_references(run_dir: Path, cases: Sequence[Case], references: ReferenceSet) -> int:
    """``cases/<id>/reference.json`` for every case with a reference (the page draws its boxes
    and lists the disagreements); returns how many were written."""
    from explainmyxray.core.results import atomic_write_json, case_dir

    vocabulary = default_vocabulary()
    written = 0
    for case in cases:
        reference = references.for_case(case)
        if reference is None:
            continue
        atomic_write_json(
            case_dir(run_dir, case.id) / "reference.json",
            case_reference(case, reference, vocabulary),
        )
        written += 1
    return written


def run_eval(
    run_dir: Path,
    reference: Path,
    reference_format: str | None = None,
    out_json: Path | None = None,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> EvalResult:
    """The ``explainmyxray eval RUN_DIR --reference REF`` command: score, optionally save JSON."""
    cases = load_run_cases(Path(run_dir))
    references = load_references(reference, reference_format, keys=[case_key(c) for c in cases])
    result = evaluate_run(cases, references, n_resamples=n_resamples, seed=seed)
    write_case_references(Path(run_dir), cases, references)
    if out_json is not None:
        from explainmyxray.core.results import atomic_write_bytes

        atomic_write_bytes(Path(out_json), (result.to_json() + "\n").encode("utf-8"))
    return result


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def render_eval_table(result: EvalResult) -> Table:
    """The corpus metrics as a rich table: estimate, bootstrap interval, cases."""
    from rich.table import Table

    level = round(100 * float(result.bootstrap.get("confidence", DEFAULT_CONFIDENCE)))
    table = Table(
        title=(
            f"{result.n_scored} of {result.n_cases} cases scored against "
            f"{result.reference_format} reference"
        ),
        caption=(
            f"{len(result.unmatched)} without reference, {result.n_failed} failed; "
            f"{result.bootstrap.get('n_resamples')} bootstrap resamples"
        ),
    )
    table.add_column("metric")
    table.add_column("estimate", justify="right")
    table.add_column(f"{level}% CI", justify="right")
    table.add_column("cases", justify="right")
    for name, metric in result.metrics.items():
        estimate = _fmt(metric.estimate)
        if name == "soft_match_accuracy" and metric.estimate is not None:
            met = metric.estimate >= result.soft_match_goal
            colour = "green" if met else "red"
            estimate = f"[{colour}]{estimate}[/{colour}]"
        interval = "—" if metric.low is None else f"{_fmt(metric.low)} – {_fmt(metric.high)}"
        table.add_row(name, estimate, interval, str(metric.n_cases))
    return table
