"""CheXbert: a BERT labeler that reads radiology report text into the 14 CheXpert labels.

Importing this package is cheap (no torch); the network lives in :mod:`.network`, which the
runner imports when it loads.
"""

from .compare import compare, judge, merge_readings
from .labels import (
    CHEXPERT_LABELS,
    NO_FINDING,
    LabelReading,
    canonical_label,
    most_specific,
    normalize_reading,
)
from .runner import CheXbertRunner, prepare_text
from .spec import chexbert_spec, workspace_bytes

__all__ = [
    "CHEXPERT_LABELS",
    "NO_FINDING",
    "CheXbertRunner",
    "LabelReading",
    "canonical_label",
    "chexbert_spec",
    "compare",
    "judge",
    "merge_readings",
    "most_specific",
    "normalize_reading",
    "prepare_text",
    "workspace_bytes",
]
