"""A run's drift profile: per-case signal values with no identifiers, saved as JSON.

``monitor profile RUN`` saves one as the reference a later run (or each day's service traffic)
is compared with. A profile keeps one row per case (the tests need samples, not summaries) but no
case id, no source path, no header text beyond the technical attributes the reader already keeps
(modality, manufacturer, view, spacing, bits): nothing in it can identify a patient.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..core.case import Case
from ..core.errors import InputError, UsageError
from ..core.results import atomic_write_json
from .signals import SIGNALS_FILE

PROFILE_VERSION = 1
NOT_RECORDED = "(not recorded)"
CATEGORICAL = (
    "source_format",
    "modality",
    "manufacturer",
    "view_position",
    "photometric",
    "bits_stored",
)
DISAGREEING = frozenset({"contradicted", "unsupported"})


class CaseSignals(BaseModel):
    categorical: dict[str, str] = Field(default_factory=dict)
    continuous: dict[str, float] = Field(default_factory=dict)
    appearance: list[float] | None = None
    quality_flags: list[str] = Field(default_factory=list)
    findings: list[str] = Field(default_factory=list)
    failed: bool = False
    verifier_disagrees: bool | None = None


class Profile(BaseModel):
    version: int = PROFILE_VERSION
    created: str
    pipeline: str | None = None
    run_started: str | None = None
    cases: list[CaseSignals]
    text_embedding_model: str | None = None
    text_embeddings: list[list[float]] | None = None

    @property
    def n_cases(self) -> int:
        return len(self.cases)


def _category(value: object) -> str:
    if value is None or value == "":
        return NOT_RECORDED
    return str(value).strip().upper() if isinstance(value, str) else str(value)


def case_signals(case: Case, recorded: dict[str, Any] | None) -> CaseSignals:
    image = case.image
    metadata = case.metadata
    categorical = {
        "source_format": _category(image.source_format if image else metadata.get("format")),
        "modality": _category(metadata.get("modality")),
        "manufacturer": _category(metadata.get("manufacturer")),
        "view_position": _category(image.view_position if image else None),
        "photometric": _category(image.photometric if image else None),
        "bits_stored": _category(image.bits_stored if image else None),
    }
    continuous: dict[str, float] = {}
    if image is not None and image.pixel_spacing_mm:
        continuous["pixel_spacing_mm"] = sum(image.pixel_spacing_mm) / 2
    appearance = None
    if recorded:
        stats = dict(recorded.get("image", {}))
        appearance = stats.pop("appearance", None)
        continuous.update({k: float(v) for k, v in stats.items() if isinstance(v, int | float)})
    verdicts = [v for ver in case.verification for v in ver.verdicts]
    disagrees = None
    if case.verification:
        disagrees = any(v.verdict in DISAGREEING for v in verdicts) or any(
            ver.hallucinated or ver.dropped for ver in case.verification
        )
    return CaseSignals(
        categorical=categorical,
        continuous=continuous,
        appearance=appearance,
        quality_flags=sorted({flag.code for flag in case.quality}),
        findings=sorted({f.label for f in case.report.present()}) if case.report else [],
        failed=case.failed,
        verifier_disagrees=disagrees,
    )


def report_text(case: Case) -> str:
    report = case.report
    if report is None:
        return ""
    if report.text and report.text.strip():
        return report.text.strip()
    findings = "; ".join(f.label for f in report.present())
    return " ".join(part for part in (findings, report.impression.strip()) if part)


def embed_report_texts(texts: Sequence[str]) -> tuple[str, list[list[float]]] | None:
    """all-MiniLM-L6-v2 embeddings of the texts, when its weights are installed; else ``None``."""
    from ..core.plugin_api import LoadRequest
    from ..models.minilm.spec import MINILM, minilm_spec, package_folder

    folder = package_folder()
    if folder is None:
        return None
    runner = minilm_spec().factory()
    runner.load(LoadRequest(device="cpu", precision="fp32", weights=folder))
    try:
        vectors = runner.embed_texts(list(texts))
    finally:
        runner.unload()
    return MINILM, [[round(float(v), 5) for v in row] for row in vectors]


def build_profile(run_dir: Path, *, embed_text: bool = True) -> Profile:
    """The profile of a run folder written by ``explainmyxray run``."""
    from ..scoring.evaluate import load_run_cases

    run_dir = Path(run_dir)
    cases = load_run_cases(run_dir)
    rows = []
    for case in cases:
        path = run_dir / "cases" / case.id / SIGNALS_FILE
        recorded = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        rows.append(case_signals(case, recorded))
    manifest = _read_json(run_dir / "run.json")
    profile = Profile(
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        pipeline=(manifest.get("pipeline") or {}).get("name"),
        run_started=manifest.get("started"),
        cases=rows,
    )
    texts = [report_text(c) for c in cases]
    if embed_text and sum(bool(t) for t in texts) >= 2:
        embedded = embed_report_texts([t or "(no report)" for t in texts])
        if embedded is not None:
            profile.text_embedding_model, profile.text_embeddings = embedded
    return profile


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
    return document if isinstance(document, dict) else {}


def save_profile(profile: Profile, path: Path) -> Path:
    atomic_write_json(Path(path), profile.model_dump(mode="json"))
    return Path(path)


def load_profile(path: Path) -> Profile:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable drift profile ({exc})") from exc
    if not isinstance(document, dict) or document.get("version") != PROFILE_VERSION:
        raise InputError(
            f"{path}: not a drift profile of version {PROFILE_VERSION} "
            "(write one with `explainmyxray monitor profile RUN`)"
        )
    try:
        return Profile.model_validate(document)
    except ValueError as exc:
        raise InputError(f"{path}: drift profile does not validate: {exc}") from exc


def resolve_profile(source: Path, *, embed_text: bool = True) -> Profile:
    """A run folder (profiled now) or a saved profile JSON file."""
    source = Path(source)
    if source.is_dir():
        return build_profile(source, embed_text=embed_text)
    if source.is_file():
        return load_profile(source)
    raise UsageError(f"{source}: neither a run folder nor a drift profile file")
