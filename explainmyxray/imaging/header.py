"""What a DICOM header says about the exposure: view, pixel spacing, windows, subject."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset

from .phi import int_value, text_value

LATERAL_VIEWS = frozenset({"LL", "RL", "LAT", "LATERAL", "LLAT", "RLAT"})
OBLIQUE_VIEWS = frozenset({"RLO", "LLO", "RAO", "LAO", "OBLIQUE"})
FRONTAL_VIEWS = frozenset({"PA", "AP", "RLD", "LLD"})

_VIEW_WORDS = [
    (re.compile(r"\b(LATERAL|LAT|LL|RL)\b"), "LATERAL"),
    (re.compile(r"\b(OBLIQUE|RAO|LAO|RLO|LLO)\b"), "OBLIQUE"),
    (re.compile(r"\b(PA|POSTERO[- ]?ANTERIOR)\b"), "PA"),
    (re.compile(r"\b(AP|ANTERO[- ]?POSTERIOR)\b"), "AP"),
]
_VIEW_TEXT_KEYWORDS = (
    "SeriesDescription",
    "ProtocolName",
    "AcquisitionDeviceProcessingDescription",
    "PerformedProcedureStepDescription",
    "StudyDescription",
)

NON_HUMAN_WORDS = re.compile(
    r"\b(CANINE|CANIS|DOGS?|FELINE|FELIS|CATS?|EQUINE|HORSES?|BOVINE|COWS?|PORCINE|PIGS?|"
    r"OVINE|SHEEP|CAPRINE|GOATS?|MURINE|MICE|MOUSE|RATS?|RODENT|RABBITS?|LAPINE|AVIAN|"
    r"VETERINARY|PHANTOM)\b"
)
HUMAN_SPECIES = re.compile(r"\b(HOMO SAPIENS|HUMAN)\b")
_SUBJECT_TEXT_KEYWORDS = (
    "BodyPartExamined",
    "ProtocolName",
    "AcquisitionDeviceProcessingDescription",
    "SeriesDescription",
    "StudyDescription",
    "PerformedProcedureStepDescription",
    "RequestedProcedureDescription",
)
_SUBJECT_CODE_SEQUENCES = (
    "PerformedProtocolCodeSequence",
    "ProcedureCodeSequence",
    "RequestedProcedureCodeSequence",
    "AnatomicRegionSequence",
    "ViewCodeSequence",
)


__all__ = [
    "int_frames",
    "int_value",
    "non_human_evidence",
    "pixel_spacing",
    "text_value",
    "view_position",
    "voi_function",
    "windows",
]


def int_frames(ds: Dataset) -> int:
    """Number of frames (1 when the attribute is absent, empty or nonsense)."""
    frames = int_value(ds, "NumberOfFrames")
    return frames if frames and frames > 0 else 1


def _code_meanings(ds: Dataset, sequence: str) -> Iterator[str]:
    for item in ds.get(sequence) or []:
        meaning = text_value(item, "CodeMeaning")
        if meaning:
            yield meaning


def view_position(ds: Dataset) -> tuple[str | None, str | None]:
    """The projection and where it was read: ``ViewPosition`` first, else descriptive text.

    Descriptions are searched for whole words only (``view: PA``, ``CANINE LATERAL THORAX``).
    """
    view = text_value(ds, "ViewPosition")
    if view:
        return view.upper(), "ViewPosition"
    texts = [(kw, text_value(ds, kw)) for kw in _VIEW_TEXT_KEYWORDS]
    texts += [("ViewCodeSequence", m) for m in _code_meanings(ds, "ViewCodeSequence")]
    for keyword, text in texts:
        if not text:
            continue
        upper = text.upper()
        for pattern, name in _VIEW_WORDS:
            if pattern.search(upper):
                return name, keyword
    return None, None


def _positive_pair(value: Any) -> tuple[float, float] | None:
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    if len(numbers) < 2 or not all(math.isfinite(v) and v > 0 for v in numbers[:2]):
        return None
    return numbers[0], numbers[1]


def pixel_spacing(ds: Dataset) -> tuple[tuple[float, float] | None, str | None, list[str]]:
    """Row and column spacing in mm, which attribute gave it, and notes on values set aside.

    ``PixelSpacing`` (calibrated to the patient) is preferred to ``ImagerPixelSpacing`` (at the
    detector, so magnified by source-to-detector / source-to-patient distance). Zero or
    missing values are ignored with a note.
    """
    notes: list[str] = []
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        raw = ds.get(keyword)
        if raw is None:
            continue
        pair = _positive_pair(raw)
        if pair is not None:
            return pair, keyword, notes
        notes.append(f"{keyword} {list(raw)!s} is not a positive pair; ignored")
    return None, None, notes


def windows(ds: Dataset) -> tuple[list[tuple[float, float]], list[str]]:
    """Valid (center, width) pairs of the header in its order, and notes on the invalid ones.

    Centers and widths may be multi-valued (the first pair is the default view); a width below
    1, a non-number or a count mismatch is noted and that pair skipped.
    """
    notes: list[str] = []
    centers, widths = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centers is None or widths is None:
        return [], notes

    def as_list(value: Any) -> list[Any]:
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            return [value]
        return list(value)

    centers_list, widths_list = as_list(centers), as_list(widths)
    if len(centers_list) != len(widths_list):
        notes.append(
            f"{len(centers_list)} window centers but {len(widths_list)} widths; "
            "pairing the first ones"
        )
    pairs: list[tuple[float, float]] = []
    for c, w in zip(centers_list, widths_list, strict=False):
        try:
            center, width = float(c), float(w)
        except (TypeError, ValueError):
            notes.append(f"window {c!s}/{w!s} is not numeric; skipped")
            continue
        if not (math.isfinite(center) and math.isfinite(width)) or width < 1:
            notes.append(f"window {center:g}/{width:g} has a width below 1; skipped")
            continue
        pairs.append((center, width))
    return pairs, notes


def voi_function(ds: Dataset) -> str:
    function = (text_value(ds, "VOILUTFunction") or "LINEAR").upper()
    return function if function in {"LINEAR", "LINEAR_EXACT", "SIGMOID"} else "LINEAR"


def non_human_evidence(ds: Dataset) -> str | None:
    """Why the header says the subject is not a human patient, or None.

    Evidence: a species other than human (``PatientSpeciesDescription`` or its code), a breed
    (only recorded for animals), or a whole-word species / veterinary / phantom term in the
    procedure descriptions and codes. Names, comments and histories are never searched. The
    returned text holds the species or the matched term and the attribute keyword, nothing
    else of the header.
    """
    species = text_value(ds, "PatientSpeciesDescription")
    species_codes = list(_code_meanings(ds, "PatientSpeciesCodeSequence"))
    for keyword, text in [("PatientSpeciesDescription", species)] + [
        ("PatientSpeciesCodeSequence", m) for m in species_codes
    ]:
        if text and not HUMAN_SPECIES.search(text.upper()):
            return f"species '{text}' ({keyword})"
    if text_value(ds, "PatientBreedDescription") or ds.get("PatientBreedCodeSequence"):
        return "breed given (PatientBreedDescription)"
    texts = [(kw, text_value(ds, kw)) for kw in _SUBJECT_TEXT_KEYWORDS]
    for sequence in _SUBJECT_CODE_SEQUENCES:
        texts += [(sequence, m) for m in _code_meanings(ds, sequence)]
    for keyword, text in texts:
        match = NON_HUMAN_WORDS.search(text.upper()) if text else None
        if match:
            return f"'{match.group(1).lower()}' in {keyword}"
    return None
