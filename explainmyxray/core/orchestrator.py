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
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
from .inputs import InputFile, identify_inputs, sidecar
from .model_manager import ModelManager
from .outcomes import StageOutcome, nothing_produced, step_outcomes
from .plan import Plan, PlannedStep, StageHost
from .results import (
    CaseClaims,
    atomic_write_json,
    claims,
    prepare_out_dir,
    read_finished,
    write_case_report,
    write_sources,
)

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
    unmapped: int = 0
    """Report statements of the finished cases that no finding names (``report.unmapped``)."""
    duplicates: int = 0
    """Inputs with the same bytes as an earlier one (run once, under the first path)."""
    stage_seconds: dict[str, float] = field(default_factory=dict)
    model_loads: dict[str, int] = field(default_factory=dict)
    peak_bytes: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str, list[CaseError]]] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    """Case id → input path, for the user's terminal only: never written by ``to_dict``."""
    outcomes: list[StageOutcome] = field(default_factory=list)
    interrupted: bool = False
    """Stopped by Ctrl-C: the finished cases, ``run.json`` and the run writers' files are
    written; the rest of the inputs were not run."""

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.interrupted

    @property
    def nothing_produced(self) -> str | None:
        """Why the main stage produced nothing for any case (None when it produced something)."""
        done = self.finished + self.failed + self.skipped
        return nothing_produced(self.outcomes, done)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "finished": self.finished,
            "failed": self.failed,
            "skipped": self.skipped,
            "unmapped_statements": self.unmapped,
            "duplicates": self.duplicates,
            "stage_seconds": self.stage_seconds,
            "model_loads": self.model_loads,
            "peak_bytes": self.peak_bytes,
            "failures": [
                {"case": cid, "source": src, "errors": [e.model_dump() for e in errors]}
                for cid, src, errors in self.failures
            ],
            "interrupted": self.interrupted,
            "steps": [o.to_dict() for o in self.outcomes],
            "nothing_produced": self.nothing_produced,
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
        self._seconds_lock = threading.Lock()

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
        report of each case.

        Files with the same bytes are one case. A case another run into ``out_dir`` is working
        on is left to it and read back when it is done.

        Ctrl-C (``KeyboardInterrupt``) stops after the cases finished so far: ``run.json`` and
        the run writers' files (``index.html``) are written for them, and the summary comes back
        with ``interrupted`` set.
        """
        started = time.time()
        prepare_out_dir(out_dir)
        inputs = identify_inputs(sources, keep_phi=self.keep_phi)
        summary = RunSummary(
            out_dir=out_dir,
            total=len(inputs),
            duplicates=sum(len(i.duplicates) for i in inputs),
            paths={i.case_id: str(i.path) for i in inputs},
        )
        write_sources(out_dir, {i.case_id: _source_entry(i) for i in inputs})
        done: list[Case] = []
        size = self.plan.batch_size
        loads_before = Counter(self.manager.stats.loads)
        self.manager.stats.peak_charged.clear()
        try:
            with claims(out_dir) as held:
                waiting = self._run_claimed(
                    inputs, out_dir, held, force, report_text, summary, done
                )
                redo: list[InputFile] = []
                for item in waiting:  # cases another run held: wait for it, then read them
                    held.wait_claim(item.case_id)
                    finished = read_finished(out_dir, item.case_id)
                    if finished is None:
                        redo.append(item)
                    else:
                        summary.skipped += 1
                        done.append(finished)
                        held.release(item.case_id)
                chunks = iter([redo[start : start + size] for start in range(0, len(redo), size)])
                self._run_overlapped(
                    lambda: next(chunks, []), out_dir, report_text, summary, done, None
                )
        except KeyboardInterrupt:
            log.warning("interrupted: writing the index and run.json for %d case(s)", len(done))
            summary.interrupted = True
        finally:
            summary.stage_seconds = {k: round(v, 4) for k, v in self.stage_seconds.items()}
            summary.model_loads = dict(self.manager.stats.loads - loads_before)
            summary.peak_bytes = dict(self.manager.stats.peak_charged)
        order = {i.case_id: n for n, i in enumerate(inputs)}
        done.sort(key=lambda c: order.get(c.id, len(order)))
        steps = [(ps.step.stage, ps.step.plugin) for ps in self.plan.steps]
        summary.outcomes = step_outcomes(steps, done)
        self._write_manifest(out_dir, summary, started)  # first: run writers may read it
        for writer in self.run_writers:
            writer(out_dir, done)
        return summary

    def _run_claimed(
        self,
        inputs: Sequence[InputFile],
        out_dir: Path,
        held: CaseClaims,
        force: bool,
        report_text: str | None,
        summary: RunSummary,
        done: list[Case],
    ) -> list[InputFile]:
        """Run, batch by batch, every input this process can claim, adding the cases to
        ``done``; return the inputs another run holds."""
        waiting: list[InputFile] = []
        todo: list[InputFile] = []
        for item in inputs:
            finished = None if force else read_finished(out_dir, item.case_id)
            if finished is not None:
                summary.skipped += 1
                done.append(finished)
            else:
                todo.append(item)
        self.host.notify("before_run", total=len(inputs), todo=len(todo), skipped=len(done))
        size = self.plan.batch_size
        position = 0

        def next_chunk() -> list[InputFile]:
            """The next batch of inputs this run claims (empty when none is left)."""
            nonlocal position
            chunk: list[InputFile] = []
            while position < len(todo) and len(chunk) < size:
                item = todo[position]
                position += 1
                if not held.try_claim(item.case_id):
                    waiting.append(item)
                    continue
                finished = None if force else read_finished(out_dir, item.case_id)
                if finished is not None:  # another run finished it meanwhile
                    summary.skipped += 1
                    done.append(finished)
                    held.release(item.case_id)
                else:
                    chunk.append(item)
            return chunk

        self._run_overlapped(next_chunk, out_dir, report_text, summary, done, held)
        return waiting

    def _run_overlapped(
        self,
        next_chunk: Callable[[], list[InputFile]],
        out_dir: Path,
        report_text: str | None,
        summary: RunSummary,
        done: list[Case],
        held: CaseClaims | None,
    ) -> None:
        """Run the batches ``next_chunk`` gives, in order, keeping the models busy: while batch
        *n* runs the steps that use models, a worker runs batch *n+1*'s leading model-free steps
        (decoding, quality checks) and another writes batch *n-1*. At most three batches are in
        memory; every case is still written once, in order (its claim released after), and an
        interruption waits for the write in progress, so no finished case is lost.
        """
        lead = self._model_free_lead()

        def start(items: list[InputFile]) -> list[Case]:
            cases = [
                Case(
                    id=item.case_id,
                    source=item.source(self.keep_phi),
                    file=str(item.path),
                    supplied_report=report_text or sidecar(item.path),
                    metadata={"input_sha256": item.sha256},
                )
                for item in items
            ]
            # model-free steps: the worker never touches the model manager, which the main
            # thread is using
            return self._run_steps(cases, range(lead), True, out_dir, manage_models=False)

        def write(cases: list[Case]) -> None:
            for case in cases:
                self._write(case, out_dir, summary)
                self.host.notify("after_case", case=case)
                done.append(_light(case))
                if held is not None:
                    held.release(case.id)

        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="explainmyxray") as pool:
            ahead: Future[list[Case]] | None = None
            writing: Future[None] | None = None
            try:
                chunk = next_chunk()
                current = start(chunk) if chunk else []
                while current:
                    following = next_chunk()
                    more = bool(following)
                    if more and lead:
                        ahead = pool.submit(start, following)
                    steps = range(lead, len(self.plan.steps))
                    self._run_steps(current, steps, more_batches=more, out_dir=out_dir)
                    if writing is not None:
                        writing.result()
                    writing = pool.submit(write, current)
                    if ahead is not None:
                        current, ahead = ahead.result(), None
                    else:
                        current = start(following) if following else []
            finally:
                if ahead is not None:
                    ahead.cancel()
                if writing is not None:
                    writing.result()

    def _model_free_lead(self) -> int:
        """How many leading steps use no model: they can run ahead on a worker thread."""
        lead = 0
        for planned in self.plan.steps:
            if planned.models:
                break
            lead += 1
        return lead if lead < len(self.plan.steps) else 0

    def _write_manifest(self, out_dir: Path, summary: RunSummary, started: float) -> None:
        """``run.json``: what ran (pipeline, plugin versions, plan, and the provenance the
        planner's caller put in the plan's manifest) and how it went."""
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
        write_case(case, out_dir, self.case_writers, redact=lambda text: self._redact(text, case))
        if case.failed:
            summary.failed += 1
            summary.failures.append((case.id, case.source, list(case.errors)))
        else:
            summary.finished += 1
            summary.unmapped += len(case.report.unmapped) if case.report is not None else 0

    # --- one batch ------------------------------------------------------------------------

    def run_batch(
        self, cases: list[Case], *, more_batches: bool = False, out_dir: Path | None = None
    ) -> list[Case]:
        """Run every step over ``cases`` in place. A case that fails a step skips the rest."""
        return self._run_steps(cases, range(len(self.plan.steps)), more_batches, out_dir)

    def _run_steps(
        self,
        cases: list[Case],
        steps: range,
        more_batches: bool,
        out_dir: Path | None,
        *,
        manage_models: bool = True,
    ) -> list[Case]:
        for index in steps:
            active = [c for c in cases if not c.failed]
            if not active:
                break
            planned = self.plan.steps[index]
            self._run_step(index, planned, active, more_batches, out_dir, manage_models)
        return cases

    def _run_step(
        self,
        index: int,
        planned: PlannedStep,
        cases: list[Case],
        more_batches: bool,
        out_dir: Path | None,
        manage_models: bool = True,
    ) -> None:
        step = planned.step
        self.host.notify("before_stage_run", stage=step.stage, plugin=step.plugin, cases=cases)
        start = time.perf_counter()
        try:
            upcoming = self.plan.upcoming(index, repeats=more_batches)
            runners = (
                self.manager.prepare(planned.models, planned.device, upcoming)
                if manage_models
                else {}
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
        with self._seconds_lock:
            self.stage_seconds[step.label] += seconds
        usages = [
            u
            for r in planned.models
            if manage_models and (u := self.manager.usage(r, planned.device))
        ]
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
        message = self._redact(str(exc), case)
        case.errors.append(
            CaseError(stage=stage, plugin=plugin, error_type=type(exc).__name__, message=message)
        )
        self.host.notify("on_stage_error", stage=stage, plugin=plugin, case=case, error=exc)

    def _redact(self, text: str, case: Case) -> str:
        """``text`` with the case's input path (as given, absolute, resolved, its file name)
        replaced by its public ``source``, unless identifiers are kept."""
        if self.keep_phi or not case.file:
            return text
        path = Path(case.file)
        forms = {case.file, str(path.absolute()), str(path.resolve()), path.name}
        for form in sorted(forms, key=len, reverse=True):
            if form:
                text = text.replace(form, case.source)
        return text


def _source_entry(item: InputFile) -> dict[str, Any]:
    return {
        "source": str(item.path),
        "sha256": item.sha256,
        "duplicates": [str(p) for p in item.duplicates],
    }


def write_case(
    case: Case,
    out_dir: Path,
    case_writers: Sequence[CaseWriter] = (),
    *,
    redact: Callable[[str], str] = str,
) -> None:
    """Write ``out_dir/cases/<id>/``: the writers' files first, ``report.json`` last, so a case
    whose report.json exists has all its files even when a run is stopped while writing. A writer
    that fails becomes an ``output`` error of the case, its message through ``redact``."""
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
                    message=redact(str(exc)),
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
