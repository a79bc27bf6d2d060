"""Runs a pipeline over many images: batch by batch, and within a batch stage by stage.

Stage-major order means each model is loaded at most once per batch. The framework owns the call
site: the model manager loads the step's models within the budget, the stage hook runs under
``torch.inference_mode`` when torch is loaded, a batch that runs out of GPU memory is split and
retried, and every failure becomes a per-case error while the batch goes on. Each case is written
atomically as soon as its batch is done, so an interrupted run loses no finished case.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .case import (
    Case,
    CaseError,
    Finding,
    Grounding,
    RetrievedCase,
    Score,
    StageRecord,
    StructuredReport,
    Verification,
    XrayImage,
)
from .context import StepContext
from .errors import ExplainMyXrayError, PluginError
from .inputs import case_id, sidecar
from .model_manager import ModelManager
from .plan import Plan, PlannedStep, StageHost
from .results import atomic_write_json, is_finished, load_case, write_case_report

log = logging.getLogger(__name__)

CaseWriter = Callable[[Case, Path], object]
RunWriter = Callable[[Path, Sequence[Case]], object]


def _apply_image(case: Case, value: Any) -> None:
    case.image = value


def _apply_retrieved(case: Case, value: Any) -> None:
    case.retrieved = list(value)


def _apply_report(case: Case, value: Any) -> None:
    case.candidates.append(value)
    case.report = value


def _apply_groundings(case: Case, value: Any) -> None:
    case.groundings = list(value)
    if case.report is not None:
        link_regions(case.report.findings, case.groundings)


def link_regions(findings: Sequence[Finding], groundings: Sequence[Grounding]) -> None:
    """Each finding's ``regions``: the region ids of its grounding (the one at its position when
    the labels agree, else the first with its label), in order and without repeats."""
    by_label: dict[str, Grounding] = {}
    for grounding in groundings:
        by_label.setdefault(grounding.finding, grounding)
    for index, finding in enumerate(findings):
        grounding = groundings[index] if index < len(groundings) else None
        if grounding is None or grounding.finding != finding.label:
            grounding = by_label.get(finding.label)
        if grounding is not None:
            finding.regions = list(dict.fromkeys(r.region for r in grounding.regions))


def _apply_verification(case: Case, value: Any) -> None:
    case.verification.append(value)


def _apply_scores(case: Case, value: Any) -> None:
    case.scores.extend(value)


# stage -> (what one case's result must be, how it lands on the case)
_RESULTS: dict[str, tuple[type | tuple[type, ...], Callable[[Case, Any], None]]] = {
    "preprocess": (XrayImage, _apply_image),
    "retrieve": (list, _apply_retrieved),
    "generate": (StructuredReport, _apply_report),
    "localize": (list, _apply_groundings),
    "verify": (Verification, _apply_verification),
    "score": (list, _apply_scores),
}
_ITEM_TYPES: dict[str, type] = {"retrieve": RetrievedCase, "localize": Grounding, "score": Score}


@dataclass
class RunSummary:
    out_dir: Path | None
    total: int = 0
    finished: int = 0
    failed: int = 0
    skipped: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    model_loads: dict[str, int] = field(default_factory=dict)
    peak_bytes: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str, list[CaseError]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "finished": self.finished,
            "failed": self.failed,
            "skipped": self.skipped,
            "stage_seconds": self.stage_seconds,
            "model_loads": self.model_loads,
            "peak_bytes": self.peak_bytes,
            "failures": [
                {"case": cid, "source": src, "errors": [e.model_dump() for e in errors]}
                for cid, src, errors in self.failures
            ],
        }


def _is_oom(exc: BaseException) -> bool:
    torch = sys.modules.get("torch")
    return bool(torch) and isinstance(exc, torch.OutOfMemoryError)


def _inference_mode() -> contextlib.AbstractContextManager[Any]:
    torch = sys.modules.get("torch")
    return torch.inference_mode() if torch is not None else contextlib.nullcontext()


class Orchestrator:
    """Runs one :class:`~.plan.Plan` through a :class:`~.plan.StageHost`, with the models of a
    :class:`~.model_manager.ModelManager` that the caller owns (and closes)."""

    def __init__(
        self,
        plan: Plan,
        host: StageHost,
        manager: ModelManager,
        *,
        keep_phi: bool = False,
        case_writers: Sequence[CaseWriter] = (),
        run_writers: Sequence[RunWriter] = (),
    ) -> None:
        self.plan = plan
        self.host = host
        self.manager = manager
        self.keep_phi = keep_phi
        self.case_writers = list(case_writers)
        self.run_writers = list(run_writers)
        self.stage_seconds: Counter[str] = Counter()

    # --- whole runs -----------------------------------------------------------------------

    def run(
        self,
        sources: Sequence[Path],
        out_dir: Path,
        *,
        force: bool = False,
        report_text: str | None = None,
    ) -> RunSummary:
        """Run every source; ``report_text`` (else a sidecar ``<image>.txt``) is the supplied
        report of each case."""
        started = time.time()
        summary = RunSummary(out_dir=out_dir, total=len(sources))
        todo: list[Path] = []
        done: list[Case] = []
        for source in sources:
            cid = case_id(source)
            if not force and is_finished(out_dir, cid):
                summary.skipped += 1
                done.append(load_case(out_dir, cid))
            else:
                todo.append(source)
        size = self.plan.batch_size
        loads_before = Counter(self.manager.stats.loads)
        self.manager.stats.peak_charged.clear()
        try:
            for start in range(0, len(todo), size):
                chunk = todo[start : start + size]
                cases = [
                    Case(id=case_id(p), source=str(p), supplied_report=report_text or sidecar(p))
                    for p in chunk
                ]
                self.run_batch(cases, more_batches=start + size < len(todo), out_dir=out_dir)
                for case in cases:
                    self._write(case, out_dir, summary)
                    done.append(_light(case))
        finally:
            summary.stage_seconds = {k: round(v, 4) for k, v in self.stage_seconds.items()}
            summary.model_loads = dict(self.manager.stats.loads - loads_before)
            summary.peak_bytes = dict(self.manager.stats.peak_charged)
        for writer in self.run_writers:
            writer(out_dir, done)
        self._write_manifest(out_dir, summary, started)
        return summary

    def _write_manifest(self, out_dir: Path, summary: RunSummary, started: float) -> None:
        """``run.json``: what ran (pipeline, plugin versions, plan) and how it went."""
        atomic_write_json(
            out_dir / "run.json",
            {
                **self.plan.manifest,
                "plugins": {
                    ps.step.plugin: self.host.plugin_version(ps.step.plugin) or None
                    for ps in self.plan.steps
                },
                "models": [
                    {"name": r.name, "precision": r.precision, "device": ps.device}
                    for ps in self.plan.steps
                    for r in ps.models
                ],
                "started": datetime.fromtimestamp(started, timezone.utc).isoformat(),
                "seconds": round(time.time() - started, 3),
                "summary": summary.to_dict(),
            },
        )

    def _write(self, case: Case, out_dir: Path, summary: RunSummary) -> None:
        write_case(case, out_dir, self.case_writers)
        if case.failed:
            summary.failed += 1
            summary.failures.append((case.id, case.source, list(case.errors)))
        else:
            summary.finished += 1

    # --- one batch ------------------------------------------------------------------------

    def run_batch(
        self, cases: list[Case], *, more_batches: bool = False, out_dir: Path | None = None
    ) -> list[Case]:
        """Run every step over ``cases`` in place. A case that fails a step skips the rest."""
        for index, planned in enumerate(self.plan.steps):
            active = [c for c in cases if not c.failed]
            if not active:
                break
            self._run_step(index, planned, active, more_batches, out_dir)
        return cases

    def _run_step(
        self,
        index: int,
        planned: PlannedStep,
        cases: list[Case],
        more_batches: bool,
        out_dir: Path | None,
    ) -> None:
        step = planned.step
        self.host.notify("before_stage_run", stage=step.stage, plugin=step.plugin, cases=cases)
        start = time.perf_counter()
        try:
            runners = self.manager.prepare(
                planned.models, planned.device, self.plan.upcoming(index, repeats=more_batches)
            )
        except ExplainMyXrayError as exc:
            for case in cases:
                self._fail(case, step.stage, step.plugin, exc)
            return
        context = StepContext(
            stage=step.stage,  # type: ignore[arg-type]
            plugin=step.plugin,
            options=step.options,
            device=planned.device,
            keep_phi=self.keep_phi,
            base_dir=self.plan.base_dir,
            out_dir=out_dir,
            get_model=lambda name: _lookup(runners, name, step.label),
        )
        results = list(self._call(step.stage, step.plugin, cases, context))
        seconds = time.perf_counter() - start
        self.stage_seconds[step.label] += seconds
        usages = [u for r in planned.models if (u := self.manager.usage(r, planned.device))]
        record = StageRecord(
            stage=step.stage,  # type: ignore[arg-type]
            plugin=step.plugin,
            plugin_version=self.host.plugin_version(step.plugin),
            seconds=round(seconds / len(cases), 6),
            models=usages,
        )
        for case, result in results:
            case.provenance.append(record)
            if isinstance(result, BaseException):
                self._fail(case, step.stage, step.plugin, result)
                continue
            try:
                _land(step.stage, step.plugin, case, result)
            except PluginError as exc:
                self._fail(case, step.stage, step.plugin, exc)
        self.host.notify(
            "after_stage_run", stage=step.stage, plugin=step.plugin, cases=cases, seconds=seconds
        )

    def _call(
        self, stage: str, plugin: str, cases: list[Case], context: StepContext
    ) -> Iterator[tuple[Case, Any]]:
        """Yield (case, result or exception); on GPU out-of-memory, halve the batch and retry."""
        try:
            with _inference_mode():
                results = self.host.call_stage(stage, plugin, cases, context)  # type: ignore[arg-type]
        except Exception as exc:
            if _is_oom(exc) and len(cases) > 1:
                log.warning(
                    "%s:%s ran out of memory at batch %d; splitting", stage, plugin, len(cases)
                )
                _empty_cuda_cache()
                half = len(cases) // 2
                yield from self._call(stage, plugin, cases[:half], context)
                yield from self._call(stage, plugin, cases[half:], context)
                return
            log.debug("%s:%s failed for a batch of %d", stage, plugin, len(cases), exc_info=True)
            for case in cases:
                yield case, exc
            return
        yield from zip(cases, results, strict=True)

    def _fail(self, case: Case, stage: str, plugin: str, exc: BaseException) -> None:
        case.errors.append(
            CaseError(stage=stage, plugin=plugin, error_type=type(exc).__name__, message=str(exc))
        )
        self.host.notify("on_stage_error", stage=stage, plugin=plugin, case=case, error=exc)


def write_case(case: Case, out_dir: Path, case_writers: Sequence[CaseWriter] = ()) -> None:
    """Write ``out_dir/cases/<id>/``: ``report.json``, then each writer's files; a writer that
    fails becomes an ``output`` error of the case (and the report is written again with it)."""
    write_case_report(case, out_dir)
    for writer in case_writers:
        try:
            writer(case, out_dir / "cases" / case.id)
        except Exception as exc:
            log.exception("writing outputs of %s failed", case.id)
            case.errors.append(
                CaseError(
                    stage="output",
                    plugin=getattr(writer, "__name__", "writer"),
                    error_type=type(exc).__name__,
                    message=str(exc),
                )
            )
            write_case_report(case, out_dir)


def _land(stage: str, plugin: str, case: Case, result: Any) -> None:
    expected, apply = _RESULTS[stage]
    item = _ITEM_TYPES.get(stage)
    ok = isinstance(result, expected) and (item is None or all(isinstance(x, item) for x in result))
    if not ok:
        what = f"a list of {item.__name__}" if item else getattr(expected, "__name__", expected)
        raise PluginError(
            f"plugin {plugin!r} returned {type(result).__name__} from {stage}(); expected {what}"
        )
    apply(case, result)


def _lookup(runners: dict[str, Any], name: str, label: str) -> Any:
    try:
        return runners[name]
    except KeyError:
        raise PluginError(
            f"step {label} asked for model {name!r}, which it did not declare"
        ) from None


def _empty_cuda_cache() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _light(case: Case) -> Case:
    """A finished case as the run writers keep it: without pixel arrays (they read the files)."""
    image = case.image.model_copy(update={"pixels": None}) if case.image else None
    anatomy = [r.model_copy(update={"mask": None}) for r in case.anatomy]
    return case.model_copy(update={"image": image, "anatomy": anatomy})
