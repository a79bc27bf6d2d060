"""Scoring the labeler against IU X-ray MeSH labels: per-label and pooled precision, recall, F1.

Per report and evaluation label the reference says true/false (MeSH) and the labeler says
true/false (one of the label's PadChest labels present). Micro scores pool the counts of every
label; macro F1 is the mean F1 over the labels with at least one reference positive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..datasets.iu_xray import IUReport, MeshMapping
from .labeler import Labeler, default_labeler


@dataclass
class LabelCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else None


@dataclass
class Evaluation:
    """Counts per evaluation label, the pooled scores, and the reports behind each error."""

    per_label: dict[str, LabelCounts]
    reports: int
    errors: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    @property
    def micro(self) -> LabelCounts:
        total = LabelCounts()
        for counts in self.per_label.values():
            total.tp += counts.tp
            total.fp += counts.fp
            total.fn += counts.fn
        return total

    @property
    def macro_f1(self) -> float | None:
        scores = [c.f1 or 0.0 for c in self.per_label.values() if c.support]
        return sum(scores) / len(scores) if scores else None

    def to_dict(self) -> dict[str, Any]:
        def row(c: LabelCounts) -> dict[str, Any]:
            return {
                "tp": c.tp,
                "fp": c.fp,
                "fn": c.fn,
                "support": c.support,
                "precision": _round(c.precision),
                "recall": _round(c.recall),
                "f1": _round(c.f1),
            }

        return {
            "reports": self.reports,
            "micro": row(self.micro),
            "macro_f1": _round(self.macro_f1),
            "per_label": {name: row(c) for name, c in self.per_label.items()},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def evaluate(
    reports: Iterable[IUReport],
    mapping: MeshMapping,
    *,
    labeler: Labeler | None = None,
    uncertain_as_present: bool = False,
    exclude: Sequence[str] = (),
) -> Evaluation:
    """Score the labeler on the usable reports (see :meth:`MeshMapping.usable`)."""
    labeler = labeler or default_labeler()
    labels = [label for label in mapping.labels if label.name not in set(exclude)]
    per_label = {label.name: LabelCounts() for label in labels}
    errors: dict[str, dict[str, list[int]]] = {label.name: {"fp": [], "fn": []} for label in labels}
    count = 0
    for report in reports:
        if not mapping.usable(report):
            continue
        count += 1
        predicted: Mapping[str, str] = labeler.label_report(report.text)
        for label in labels:
            truth = label.in_mesh(report.mesh_major)
            guess = label.predicted(predicted, uncertain_as_present=uncertain_as_present)
            counts = per_label[label.name]
            if truth and guess:
                counts.tp += 1
            elif guess:
                counts.fp += 1
                errors[label.name]["fp"].append(report.id)
            elif truth:
                counts.fn += 1
                errors[label.name]["fn"].append(report.id)
    return Evaluation(per_label, count, errors)
