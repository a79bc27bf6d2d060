"""A rule-based English radiology-report labeler for the PadChest vocabulary.

``label_text(text)`` lists every finding, diagnosis and location mention with its status;
``label_report(text)`` folds them into one status per PadChest label; ``chexpert_labels(text)``
maps that onto the 14 CheXpert labels. See :mod:`.labeler` for the rules.
"""

from .labeler import (
    Labeler,
    Mention,
    chexpert_labels,
    default_labeler,
    fold_mentions,
    label_report,
    label_text,
)
from .sentences import Sentence, split_sentences

__all__ = [
    "Labeler",
    "Mention",
    "Sentence",
    "chexpert_labels",
    "default_labeler",
    "fold_mentions",
    "label_report",
    "label_text",
    "split_sentences",
]
