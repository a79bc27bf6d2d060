"""The 14 CheXpert observations and how CheXbert's output classes map to finding statuses.

CheXbert (Smit et al., 2020) has one classification head per observation, in the order of
:data:`CHEXPERT_LABELS`. The first 13 heads have four classes: 0 blank (not mentioned),
1 positive, 2 negative, 3 uncertain. The last head ("No Finding") has two: 0 blank, 1 positive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ...core.case import FindingStatus
from ...report.ontology import CHEXPERT_LABELS as ONTOLOGY_CHEXPERT_LABELS

NO_FINDING = "No Finding"
CHEXPERT_LABELS: tuple[str, ...] = (
    *(name for name in ONTOLOGY_CHEXPERT_LABELS if name != NO_FINDING),
    NO_FINDING,
)
"""The 14 labels in CheXbert's head order: the ontology's order with "No Finding" moved last."""

OBSERVATION_CLASSES: tuple[FindingStatus | None, ...] = (None, "present", "absent", "uncertain")
"""Class index -> status for the 13 four-class heads (blank is ``None``)."""
NO_FINDING_CLASSES: tuple[FindingStatus | None, ...] = (None, "present")
"""Class index -> status for the two-class "No Finding" head."""

HEAD_CLASSES: tuple[tuple[FindingStatus | None, ...], ...] = (
    *(OBSERVATION_CLASSES for _ in CHEXPERT_LABELS[:-1]),
    NO_FINDING_CLASSES,
)
"""Per head, in label order: the status each class index means."""

CHEXPERT_CHILDREN: dict[str, frozenset[str]] = {
    "Lung Opacity": frozenset(
        {"Edema", "Consolidation", "Pneumonia", "Lung Lesion", "Atelectasis"}
    ),
    "Enlarged Cardiomediastinum": frozenset({"Cardiomegaly"}),
}
"""CheXpert's label hierarchy: an observation present implies its parent present."""

LabelReading = dict[str, FindingStatus | None]
"""One report read into the 14 CheXpert labels; ``None`` means not mentioned."""

_BY_KEY = {" ".join(name.lower().split()): name for name in CHEXPERT_LABELS}
_STATUS_WORDS: dict[str, FindingStatus] = {
    "present": "present",
    "positive": "present",
    "absent": "absent",
    "negative": "absent",
    "uncertain": "uncertain",
}


def decode_class(head: int, class_index: int) -> FindingStatus | None:
    """The status that class ``class_index`` of head ``head`` stands for."""
    classes = HEAD_CLASSES[head]
    if not 0 <= class_index < len(classes):
        raise ValueError(
            f"head {head} ({CHEXPERT_LABELS[head]}) has {len(classes)} classes, "
            f"got class {class_index}"
        )
    return classes[class_index]


def canonical_label(name: str | None) -> str | None:
    """The CheXpert spelling of ``name`` (case and spacing ignored), or None if it is not one."""
    if not name:
        return None
    return _BY_KEY.get(" ".join(name.replace("_", " ").lower().split()))


def parents(name: str) -> list[str]:
    """The CheXpert observations ``name`` refines (``Pneumonia`` -> ``Lung Opacity``)."""
    return [parent for parent, children in CHEXPERT_CHILDREN.items() if name in children]


def most_specific(labels: Iterable[Any]) -> str | None:
    """Of several CheXpert labels, the first (in CheXpert order) that no other one refines."""
    names = {n for n in (canonical_label(str(x)) for x in labels) if n is not None}
    for name in CHEXPERT_LABELS:
        if name in names and not (CHEXPERT_CHILDREN.get(name, frozenset()) & names):
            return name
    return None


def as_status(value: Any) -> FindingStatus | None:
    """Read a label value written in any usual convention as a status.

    Accepts statuses (``"present"``, ``"absent"``, ``"uncertain"``), the words ``positive`` and
    ``negative``, and the CheXpert numbers (1 positive, 0 negative, -1 uncertain, blank or NaN
    not mentioned).
    """
    if value is None:
        return None
    if isinstance(value, str):
        word = value.strip().lower()
        if not word or word in {"blank", "nan", "none"}:
            return None
        if word in _STATUS_WORDS:
            return _STATUS_WORDS[word]
        raise ValueError(f"unknown label value {value!r}")
    if isinstance(value, bool):
        raise ValueError(f"ambiguous label value {value!r}")
    number = float(value)
    if math.isnan(number):
        return None
    by_number: dict[float, FindingStatus] = {1.0: "present", 0.0: "absent", -1.0: "uncertain"}
    if number not in by_number:
        raise ValueError(f"unknown label value {value!r} (CheXpert uses 1, 0, -1 or blank)")
    return by_number[number]


def normalize_reading(reading: dict[str, Any]) -> LabelReading:
    """A reading keyed by CheXpert names with status values; other keys are dropped."""
    out: LabelReading = dict.fromkeys(CHEXPERT_LABELS)
    for key, value in reading.items():
        name = canonical_label(key)
        if name is not None:
            out[name] = as_status(value)
    return out
