"""The built-in ``metrics`` scorer: each case against its reference report and boxes.

Per case it adds what one case allows (see :mod:`explainmyxray.scoring.evaluate` for the rules):
``soft_match`` (value = soft-match accuracy, details = matched pairs, extra and missed findings),
``finding_f1``, ``finding_location_f1`` (when the reference localizes a finding), ``chexpert_f1``,
and for references with boxes ``box_iou`` (mean best IoU, IoU hit rates, per-box outcomes) and
``pointing_game``. A case with no reference gets one ``reference`` score with value None saying
so. Corpus metrics with confidence intervals come from ``explainmyxray eval``.

Options: ``reference`` (a PadChest table, IU X-ray XML archive or folder, NIH BBox CSV, or JSONL;
relative paths are against the pipeline file's folder); ``reference_format`` (detected when
left out); ``metrics`` (which of the per-case metrics); ``iou_thresholds``;
``pointing_tolerance_px``. Without ``reference``, each image's sidecar
``<image>.reference.json`` (one JSONL-format object) is used where it exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, Score
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import InputError
from explainmyxray.scoring.boxes import DEFAULT_IOU_THRESHOLDS
from explainmyxray.scoring.evaluate import (
    CASE_METRICS,
    EvalResult,
    case_scores,
    compare_case,
    default_vocabulary,
    evaluate_run,
    no_reference_score,
    render_eval_table,
)
from explainmyxray.scoring.references import (
    Reference,
    ReferenceSet,
    case_key,
    load_references,
    read_jsonl,
)

__all__ = ["EvalResult", "MetricsOptions", "evaluate_run", "render_eval_table"]

SIDECAR_SUFFIX = ".reference.json"
MetricName = Literal["soft_match", "finding_f1", "finding_location_f1", "chexpert_f1", "boxes"]


class MetricsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: Path | None = None
    reference_format: Literal["padchest", "iuxray", "nih-bbox", "jsonl"] | None = None
    metrics: list[MetricName] = Field(default_factory=lambda: list(CASE_METRICS), min_length=1)
    iou_thresholds: list[float] = Field(default_factory=lambda: list(DEFAULT_IOU_THRESHOLDS))
    pointing_tolerance_px: float = Field(default=0.0, ge=0.0)

    @field_validator("iou_thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: list[float]) -> list[float]:
        bad = [t for t in value if not 0.0 < t <= 1.0]
        if bad:
            raise ValueError(f"IoU thresholds must lie in (0, 1]; got {bad}")
        return value


_CACHE: dict[tuple, ReferenceSet] = {}


def cached_references(path: Path, reference_format: str | None) -> ReferenceSet:
    """The reference set at ``path``, read once per process while the file is unchanged."""
    resolved = path.resolve()
    stat = resolved.stat()
    key = (str(resolved), stat.st_mtime_ns, stat.st_size, reference_format)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = load_references(resolved, reference_format)
    return _CACHE[key]


def sidecar_reference(case: Case) -> Reference | None:
    """The ``<image>.reference.json`` (or ``<stem>.reference.json``) beside a case's image."""
    if not case.source:
        return None
    image = case.input_file
    for candidate in (
        image.with_name(image.name + SIDECAR_SUFFIX),
        image.with_name(image.stem + SIDECAR_SUFFIX),
    ):
        if candidate.is_file():
            refs = list(read_jsonl(candidate))
            if len(refs) != 1:
                raise InputError(f"{candidate}: expected one reference object, got {len(refs)}")
            return refs[0]
    return None


@hookimpl
def register_stages(register) -> None:
    register(
        "score",
        options=MetricsOptions,
        description=(
            "soft-match accuracy, finding / location / CheXpert F1 and box IoU / pointing game "
            "against a reference (PadChest, IU X-ray, NIH boxes, JSONL)"
        ),
    )


@hookimpl
def score(
    cases: Sequence[Case], step: StepContext[MetricsOptions]
) -> list[list[Score] | Exception]:
    options = step.options
    references = (
        cached_references(step.resolve(options.reference), options.reference_format)
        if options.reference is not None
        else None
    )
    vocabulary = default_vocabulary()
    results: list[list[Score] | Exception] = []
    for case in cases:
        try:
            if references is not None:
                reference = references.for_case(case)
                source = references.source
            else:
                reference = sidecar_reference(case)
                source = f"the image's sidecar <image>{SIDECAR_SUFFIX}"
            if reference is None:
                # the key is the image's name: shown only where the run shows paths
                key = case_key(case) if step.keep_phi or case.file is None else case.id
                results.append([no_reference_score(key, source)])
                continue
            comparison = compare_case(
                case, reference, vocabulary, pointing_tolerance_px=options.pointing_tolerance_px
            )
            results.append(case_scores(comparison, options.metrics, options.iou_thresholds))
        except InputError as exc:
            results.append(exc)
    return results
