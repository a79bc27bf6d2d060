"""The typed objects that flow between stages.

A :class:`Case` is one radiograph on its way through a pipeline. Each stage reads what earlier
stages wrote and fills in its own part. Every coordinate is in the *original* image's pixel space
(x to the right, y down, origin at the top-left corner), whatever size a model works at.
Pixel arrays are carried in memory only; they are never part of the serialized report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

Stage = Literal["preprocess", "retrieve", "generate", "localize", "verify", "score"]
STAGES: tuple[Stage, ...] = ("preprocess", "retrieve", "generate", "localize", "verify", "score")

Array = Annotated[SkipJsonSchema[np.ndarray | None], Field(default=None, exclude=True, repr=False)]


class Record(BaseModel):
    """Base of every serialized record: unknown fields are an error, not silently kept."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class Box(Record):
    """An axis-aligned box in original-image pixels; ``x1``/``y1`` are exclusive."""

    x0: float
    y0: float
    x1: float
    y1: float

    @model_validator(mode="after")
    def _ordered(self) -> Box:
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise ValueError(
                f"box corners out of order: ({self.x0},{self.y0})-({self.x1},{self.y1})"
            )
        return self

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return self.width * self.height

    def scaled(self, sx: float, sy: float) -> Box:
        return Box(x0=self.x0 * sx, y0=self.y0 * sy, x1=self.x1 * sx, y1=self.y1 * sy)


class XrayImage(Record):
    """A decoded radiograph: grayscale, float32 in [0, 1], bright = dense (bone white)."""

    pixels: Array
    width: int
    height: int
    source_format: Literal["dicom", "png", "jpeg", "other"]
    bits_stored: int | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    view_position: str | None = None
    photometric: str | None = None
    notes: list[str] = Field(default_factory=list)


class QualityFlag(Record):
    """A quality check that did not pass, with the measured value and the threshold it crossed."""

    code: str
    message: str
    value: float | str | None = None
    threshold: float | None = None
    severity: Literal["info", "warning", "error"] = "warning"


FindingStatus = Literal["present", "absent", "uncertain"]


class Finding(Record):
    """One radiographic finding of a report, in the PadChest vocabulary where it is known."""

    label: str
    status: FindingStatus = "present"
    locations: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    evidence: str | None = None
    """The report's own words the finding was read from (a span of ``StructuredReport.text``)."""
    evidence_start: int | None = None
    evidence_end: int | None = None
    known: bool = True
    sources: list[str] = Field(default_factory=list)
    votes: dict[str, FindingStatus] = Field(default_factory=dict)
    """In an ensemble's consensus report: each generator's status for this finding (generators
    that said nothing about it are absent; a vote the arbiter struck out is still shown here)."""


class UnmappedStatement(BaseModel):
    """A sentence of the report that states something no finding of the vocabulary names."""

    text: str
    start: int | None = None
    end: int | None = None
    reason: str


class StructuredReport(Record):
    """FINDINGS → LOCATIONS → IMPRESSION as data, plus the text it was read from."""

    findings: list[Finding] = Field(default_factory=list)
    impression: str = ""
    text: str | None = None
    source: str = "unknown"
    warnings: list[str] = Field(default_factory=list)
    unmapped: list[UnmappedStatement] = []
    """Statements read from ``text`` that became no finding (nothing is dropped silently)."""

    def present(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "present"]


class RetrievedCase(Record):
    """A reference case similar to the query, from a retrieval index."""

    id: str
    score: float
    report: str = ""
    labels: list[str] = Field(default_factory=list)
    image: str | None = None


class Region(Record):
    """One anatomical region of this image: its box, and its mask in memory."""

    id: str
    name: str
    color: str
    box: Box
    mask: Array
    area_px: int = 0
    method: str = ""


class GroundedRegion(Record):
    region: str
    box: Box
    score: float | None = None


class Grounding(Record):
    """Where one finding lies: the regions its PadChest locations map to, with their boxes."""

    finding: str
    locations: list[str] = Field(default_factory=list)
    regions: list[GroundedRegion] = Field(default_factory=list)
    note: str | None = None


Verdict = Literal["agree", "contradicted", "not_mentioned", "unsupported"]


class FindingVerdict(Record):
    label: str
    verdict: Verdict
    reported_status: FindingStatus | None = None
    verifier_status: FindingStatus | None = None
    detail: str | None = None


class Verification(Record):
    """An independent reading of the report text compared with the structured findings."""

    verifier: str
    verdicts: list[FindingVerdict] = Field(default_factory=list)
    hallucinated: list[str] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list)

    @property
    def agreement(self) -> float | None:
        judged = [v for v in self.verdicts if v.verdict != "not_mentioned"]
        if not judged:
            return None
        return sum(v.verdict == "agree" for v in judged) / len(judged)


class Score(Record):
    metric: str
    value: float | None
    details: dict[str, Any] = Field(default_factory=dict)


class ModelUsage(Record):
    """What loading a model really cost, as measured by the model manager."""

    name: str
    device: str
    precision: str
    estimated_bytes: int
    measured_bytes: int | None = None
    load_seconds: float | None = None
    source: str | None = None


class StageRecord(Record):
    stage: Stage
    plugin: str
    plugin_version: str | None = None
    seconds: float
    models: list[ModelUsage] = Field(default_factory=list)


class CaseError(Record):
    stage: str
    plugin: str
    error_type: str
    message: str


class Case(Record):
    """One radiograph and everything the pipeline learned about it."""

    id: str
    source: str
    """Where the image came from, as outputs show it: the path with ``--keep-phi``, otherwise
    ``sha256:<content hash>`` (paths carry patient names and ids)."""
    file: SkipJsonSchema[str | None] = Field(default=None, exclude=True, repr=False)
    """The path the image is read from on this machine; never serialized. ``None`` for a case
    read back from disk, whose ``source`` is then the path when there is one."""
    image: XrayImage | None = None
    metadata: dict[str, str | int | float | None] = Field(default_factory=dict)
    supplied_report: str | None = None
    quality: list[QualityFlag] = Field(default_factory=list)
    retrieved: list[RetrievedCase] = Field(default_factory=list)
    report: StructuredReport | None = None
    candidates: list[StructuredReport] = Field(default_factory=list)
    """Every report a generate step wrote, in step order; ``report`` is the last one. An
    ensemble's consensus step reads the candidates and writes the combined report."""
    anatomy: list[Region] = Field(default_factory=list)
    groundings: list[Grounding] = Field(default_factory=list)
    verification: list[Verification] = Field(default_factory=list)
    scores: list[Score] = Field(default_factory=list)
    provenance: list[StageRecord] = Field(default_factory=list)
    errors: list[CaseError] = Field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    @property
    def input_file(self) -> Path:
        """The image file to read (plugins read this, never ``source``)."""
        return Path(self.file or self.source)

    def to_report(self) -> dict[str, Any]:
        """The per-case ``report.json`` document (no pixels, no patient identifiers)."""
        return {"schema_version": REPORT_SCHEMA_VERSION, **self.model_dump(mode="json")}


REPORT_SCHEMA_VERSION = "1.0"
