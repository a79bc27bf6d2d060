"""Multi-label classification metrics: per-label counts, micro/macro F1, per-label tables.

Each case contributes a set of *present* items on each side (predicted, reference). An item is a
label (``"pleural effusion"``), a finding-location pair (``("nodule", "loc left upper lobe")``) or
a CheXpert class; the functions do not care. Per item, over the cases:

* ``tp`` = cases where both sides have it, ``fp`` = predicted only, ``fn`` = reference only;
* precision = tp / (tp + fp), recall = tp / (tp + fn), F1 = 2 tp / (2 tp + fp + fn), each
  ``None`` where its denominator is 0.

Corpus level:

* **micro F1** pools the counts of all items: 2 ΣTP / (2 ΣTP + ΣFP + ΣFN);
* **macro F1** is the unweighted mean of per-item F1 over the items whose F1 is defined, i.e.
  the items that occur on either side at least once (an item predicted but never in the
  reference has F1 = 0 and counts; an item in neither counts nowhere).

Per case, :func:`case_f1` is the F1 of that case's two sets; two empty sets (a normal study
reported as normal) score 1.

CheXpert: :data:`CHEXPERT_14` are the 14 CheXpert observations; :data:`CHEXPERT_COMPETITION_5`
the five of the CheXpert competition. :func:`with_no_finding` adds ``"No Finding"`` to a CheXpert
label set with no observation other than ``"Support Devices"`` (the CheXpert labeler's rule).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..report.ontology import CHEXPERT_LABELS
from .bootstrap import SparseRows

CHEXPERT_14: tuple[str, ...] = CHEXPERT_LABELS
CHEXPERT_COMPETITION_5: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Pleural Effusion",
)
NO_FINDING = "No Finding"
SUPPORT_DEVICES = "Support Devices"


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def f1_from_counts(tp: float, fp: float, fn: float) -> float | None:
    """2 tp / (2 tp + fp + fn), ``None`` when nothing was predicted or expected."""
    return ratio(2 * tp, 2 * tp + fp + fn)


@dataclass(frozen=True)
class LabelCounts:
    """The confusion counts of one item over a corpus, with the derived rates."""

    label: str
    tp: int
    fp: int
    fn: int

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float | None:
        return ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float | None:
        return f1_from_counts(self.tp, self.fp, self.fn)

    def row(self) -> dict[str, str | int | float | None]:
        return {
            "label": self.label,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "support": self.support,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


def item_name(item: Hashable) -> str:
    """Display name of an item: a label as is, a pair as ``"label | location"``."""
    if isinstance(item, tuple):
        return " | ".join(str(part) for part in item)
    return str(item)


def count_matrix(
    predicted: Sequence[Collection[Hashable]],
    reference: Sequence[Collection[Hashable]],
    items: Iterable[Hashable] | None = None,
) -> tuple[list[Hashable], SparseRows]:
    """Per-case, per-item counts: ``(items, counts)``; ``counts.dense()[case, item]`` is
    ``[tp, fp, fn]`` (stored sparsely: only the items a case has on either side).

    ``items`` fixes the item space (others are ignored); by default it is every item on either
    side, sorted by name.
    """
    if len(predicted) != len(reference):
        raise ValueError(f"{len(predicted)} predicted sets but {len(reference)} reference sets")
    if items is None:
        found: set[Hashable] = set()
        for p, r in zip(predicted, reference, strict=True):
            found.update(p)
            found.update(r)
        item_list = sorted(found, key=item_name)
    else:
        item_list = list(dict.fromkeys(items))
    position = {item: i for i, item in enumerate(item_list)}
    cases: list[int] = []
    columns: list[int] = []
    for case, (p, r) in enumerate(zip(predicted, reference, strict=True)):
        p_set = {x for x in p if x in position}
        r_set = {x for x in r if x in position}
        for kind, chosen in enumerate((p_set & r_set, p_set - r_set, r_set - p_set)):
            for x in chosen:
                cases.append(case)
                columns.append(3 * position[x] + kind)
    counts = SparseRows(
        n_cases=len(predicted),
        row_shape=(len(item_list), 3),
        case=np.asarray(cases, dtype=np.int64),
        column=np.asarray(columns, dtype=np.int64),
        value=np.ones(len(cases)),
    )
    return item_list, counts


def label_counts(items: Sequence[Hashable], counts: SparseRows) -> list[LabelCounts]:
    """Corpus counts per item from :func:`count_matrix`'s output."""
    totals = counts.total()
    return [
        LabelCounts(item_name(item), int(t[0]), int(t[1]), int(t[2]))
        for item, t in zip(items, totals, strict=True)
    ]


def micro_f1_from_sums(sums: np.ndarray) -> np.ndarray:
    """Micro F1 for a batch of summed counts of shape ``(batch, n_items, 3)`` (NaN: undefined)."""
    tp, fp, fn = (sums[..., k].sum(axis=-1) for k in range(3))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)


def macro_f1_from_sums(sums: np.ndarray) -> np.ndarray:
    """Macro F1 for a batch of summed counts of shape ``(batch, n_items, 3)`` (NaN: undefined)."""
    tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
    denominator = 2 * tp + fp + fn
    defined = denominator > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        per_item = np.where(defined, 2 * tp / denominator, 0.0)
        return np.where(defined.any(axis=-1), per_item.sum(axis=-1) / defined.sum(axis=-1), np.nan)


def micro_f1(counts: SparseRows) -> float | None:
    """Micro F1 of :func:`count_matrix` counts."""
    value = micro_f1_from_sums(counts.total()[None])[0]
    return float(value) if np.isfinite(value) else None


def macro_f1(counts: SparseRows) -> float | None:
    """Macro F1 of :func:`count_matrix` counts."""
    value = macro_f1_from_sums(counts.total()[None])[0]
    return float(value) if np.isfinite(value) else None


def case_f1(predicted: Collection[Hashable], reference: Collection[Hashable]) -> float:
    """F1 of one case's sets; 1.0 when both are empty."""
    p, r = set(predicted), set(reference)
    if not p and not r:
        return 1.0
    tp = len(p & r)
    return 2 * tp / (len(p) + len(r))


def with_no_finding(chexpert_labels: Iterable[str]) -> set[str]:
    """The set with ``"No Finding"`` derived: present iff nothing but ``"Support Devices"`` is."""
    labels = set(chexpert_labels) - {NO_FINDING}
    if not labels - {SUPPORT_DEVICES}:
        labels.add(NO_FINDING)
    return labels


def per_label_table(items: Sequence[Hashable], counts: SparseRows) -> list[dict]:
    """Rows ``label, tp, fp, fn, support, precision, recall, f1``, most supported first."""
    rows = [c.row() for c in label_counts(items, counts)]
    rows.sort(key=lambda r: (-int(r["support"]), -(int(r["tp"]) + int(r["fp"])), r["label"]))
    return rows
