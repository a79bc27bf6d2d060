"""The engine: one plugin host and one model manager that live as long as the process.

The CLI makes one for a run; a job service or a cluster worker keeps one per process (or GPU)
and runs many pipelines and many batches through it. Models stay resident between runs and
batches while they fit the budget (with ``retain``, the default, until their room is needed;
without it, as soon as no upcoming step needs them), so a model two pipelines share is loaded
once. Runs and batches from several threads are served one at a time (an engine holds one set of
models); for parallel work use one engine per process or GPU.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ..core.case import Case, ModelUsage
from ..core.memory import MemoryBudget
from ..core.model_manager import ModelManager
from ..core.orchestrator import CaseWriter, Orchestrator, RunSummary, RunWriter
from ..core.plan import Plan
from ..registry.plugins import PluginHost
from ..registry.provenance import run_provenance
from ..registry.weights import locate_weights
from .loader import Pipeline, load_pipeline
from .planner import plan as make_plan
from .shipped import resolve_pipeline

PipelineRef = str | Path | Pipeline
"""A loaded pipeline, a YAML file, or the name of a shipped pipeline (``default``, ``full``...)."""


class Engine:
    """Loads pipelines, plans them and runs them over one host and one model manager.

    ``device`` overrides every pipeline's device (``cpu``, ``cuda``, ``cuda:1``). ``budget``
    fixes the memory budget for every pipeline; by default each run uses its pipeline's.
    ``retain`` keeps models no upcoming step needs until their room is needed.
    """

    def __init__(
        self,
        host: PluginHost | None = None,
        *,
        device: str | None = None,
        budget: MemoryBudget | None = None,
        retain: bool = True,
    ) -> None:
        self.host = host if host is not None else PluginHost()
        self.device = device
        self.budget = budget
        self.manager = ModelManager(
            self.host.models,
            budget or MemoryBudget(),
            locate=locate_weights,
            retain=retain,
        )
        self._pipelines: dict[Path, tuple[tuple[int, int], Pipeline]] = {}
        self._lock = threading.RLock()

    # --- lifetime ---------------------------------------------------------------------------

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Unload every resident and parked model. The engine can still run afterwards (models
        then load again)."""
        with self._lock:
            self.manager.close()

    def resident(self) -> list[ModelUsage]:
        """The models loaded now (device, precision, measured bytes), parked ones excluded."""
        with self._lock:
            return [r.usage for r in self.manager.resident()]

    # --- pipelines --------------------------------------------------------------------------

    def load(self, pipeline: PipelineRef) -> Pipeline:
        """The validated pipeline: ``pipeline`` itself, or the file or shipped pipeline it names
        (a file is read again only when it changed)."""
        if isinstance(pipeline, Pipeline):
            return pipeline
        path = resolve_pipeline(pipeline)
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._pipelines.get(path)
            if cached is None or cached[0] != version:
                cached = (version, load_pipeline(path, self.host))
                self._pipelines[path] = cached
            return cached[1]

    def plan(self, pipeline: PipelineRef) -> Plan:
        """Devices, model requests and the predicted loads and peak memory of one batch."""
        result = make_plan(self.load(pipeline), self.host, device=self.device)
        if self.budget is not None:
            result.budget = self.budget
        return result

    # --- running ----------------------------------------------------------------------------

    def run(
        self,
        pipeline: PipelineRef,
        sources: Sequence[Path],
        out_dir: Path,
        *,
        force: bool = False,
        report_text: str | None = None,
        keep_phi: bool = False,
        case_writers: Sequence[CaseWriter] = (),
        run_writers: Sequence[RunWriter] = (),
        progress: Any = None,
    ) -> RunSummary:
        """Run every source and write its outputs under ``out_dir`` (what ``explainmyxray run``
        does): ``cases/<id>/report.json`` per case as soon as its batch is done, the writers'
        files, and ``run.json``. Finished cases are skipped unless ``force``.

        ``progress`` is a plugin object (lifecycle hook implementations, e.g. the CLI's progress
        bar) registered for this run only.
        """
        with self._lock:
            orchestrator = self._orchestrator(pipeline, keep_phi, case_writers, run_writers)
            orchestrator.plan.manifest["provenance"] = run_provenance(self.host, orchestrator.plan)
            with self._observing(progress):
                return orchestrator.run(sources, out_dir, force=force, report_text=report_text)

    def run_batch(
        self,
        pipeline: PipelineRef,
        cases: list[Case],
        *,
        keep_phi: bool = False,
        out_dir: Path | None = None,
    ) -> list[Case]:
        """Run every step over in-memory ``cases`` (each with ``source`` and, if any,
        ``supplied_report``), in place, and return them. Nothing is written; a case that fails
        a step carries the error in ``case.errors`` and skips the rest. ``out_dir`` is only
        passed on to the steps (``step.out_dir``)."""
        with self._lock:
            orchestrator = self._orchestrator(pipeline, keep_phi, (), ())
            return orchestrator.run_batch(cases, more_batches=True, out_dir=out_dir)

    def _orchestrator(
        self,
        pipeline: PipelineRef,
        keep_phi: bool,
        case_writers: Sequence[CaseWriter],
        run_writers: Sequence[RunWriter],
    ) -> Orchestrator:
        plan = self.plan(pipeline)
        self.manager.budget = plan.budget
        return Orchestrator(
            plan,
            self.host,
            self.manager,
            keep_phi=keep_phi,
            case_writers=case_writers,
            run_writers=run_writers,
        )

    @contextlib.contextmanager
    def _observing(self, observer: Any) -> Iterator[None]:
        """``observer`` registered as a plugin for the duration of the block."""
        if observer is None:
            yield
            return
        self.host.pm.register(observer, name=f"observer-{id(observer)}")
        try:
            yield
        finally:
            self.host.pm.unregister(observer)
