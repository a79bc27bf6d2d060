"""The batcher: one thread that feeds the engine from the queue.

When work arrives it waits a short window for more (unless a batch is already full), then claims
up to the pipeline's batch size fairly across jobs (see :meth:`JobStore.claim_batch`), so cases of
different jobs share one engine batch. Each case's folder is written before the queue records it
finished; a job's ``index.html`` is written when its last case ends.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..core.case import Case
from .engine_adapter import ServingEngine
from .metrics import ServiceMetrics
from .settings import ServiceSettings
from .store import Batch, CaseOutcome, JobStore

log = logging.getLogger(__name__)


class BatchWorker:
    def __init__(
        self,
        store: JobStore,
        engine: ServingEngine,
        settings: ServiceSettings,
        metrics: ServiceMetrics,
        on_job_end: Callable[[str], None],
    ) -> None:
        self.store = store
        self.engine = engine
        self.settings = settings
        self.metrics = metrics
        self.on_job_end = on_job_end
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._current: Batch | None = None
        self._thread = threading.Thread(
            target=self._loop, name="explainmyxray-batcher", daemon=True
        )
        self.last_error: str | None = None

    # --- control ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._wake.set()  # recovered work may be waiting

    def notify(self) -> None:
        """New cases were queued."""
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float) -> int:
        """Let the running batch finish within ``timeout`` seconds; put it back in the queue if it
        does not. Returns how many cases were re-queued."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        batch = self._current
        if self._thread.is_alive() and batch is not None:
            count = self.store.requeue_batch(batch)
            log.warning("shutdown: re-queued %d case(s) of an unfinished batch", count)
            return count
        return 0

    # --- the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            while not self._stop.is_set() and self._gather():
                batch = self.store.claim_batch(self.engine.batch_size)
                if batch is None:
                    break
                self._current = batch
                try:
                    self._run(batch)
                except Exception as exc:  # the engine broke, not one case: fail the batch
                    log.exception("batch %s failed as a whole", batch.id)
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    self._fail(batch, exc)
                finally:
                    self._current = None

    def _gather(self) -> bool:
        """Wait up to the batching window for the queue to fill a batch; True if work waits."""
        if self.store.queued_cases() == 0:
            return False
        deadline = time.monotonic() + self.settings.batch_window_s
        while time.monotonic() < deadline and not self._stop.is_set():
            if self.store.queued_cases() >= self.engine.batch_size:
                break
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
        return True

    def _run(self, batch: Batch) -> None:
        started = time.perf_counter()
        cases = [
            # as in `run`: outputs name the image by its content hash, never by a path
            Case(
                id=c.case_id,
                source=f"sha256:{c.sha256}",
                file=c.source,
                metadata={"input_sha256": c.sha256},
                supplied_report=c.report_text,
            )
            for c in batch.cases
        ]
        self.engine.run_batch(cases, batch.options)
        outcomes = []
        for claimed, case in zip(batch.cases, cases, strict=True):
            self.engine.write_case(case, self.settings.job_dir(claimed.job_id))
            outcomes.append(
                CaseOutcome(
                    claimed.job_id,
                    claimed.position,
                    ok=not case.failed,
                    errors=[e.model_dump() for e in case.errors],
                )
            )
        self._record(batch, outcomes, time.perf_counter() - started)

    def _fail(self, batch: Batch, exc: Exception) -> None:
        error = {
            "stage": "service",
            "plugin": "serve",
            "error_type": type(exc).__name__,
            "message": str(exc),
        }
        outcomes = [
            CaseOutcome(c.job_id, c.position, ok=False, errors=[error]) for c in batch.cases
        ]
        self._record(batch, outcomes, 0.0)

    def _record(self, batch: Batch, outcomes: list[CaseOutcome], seconds: float) -> None:
        dropped, ended = self.store.finish_batch(batch, outcomes)
        for outcome in dropped:  # cancelled while running: its results are not kept
            claimed = next(
                c
                for c in batch.cases
                if c.position == outcome.position and c.job_id == outcome.job_id
            )
            shutil.rmtree(
                self.settings.job_dir(claimed.job_id) / "cases" / claimed.case_id,
                ignore_errors=True,
            )
        self.metrics.batch_cases.observe(len(batch.cases))
        self.metrics.batch_jobs.observe(len(batch.job_ids))
        self.metrics.batch_seconds.observe(seconds)
        log.info(
            "batch %s: %d case(s) of %d job(s) in %.2f s",
            batch.id,
            len(batch.cases),
            len(batch.job_ids),
            seconds,
        )
        for job_id in ended:
            self.on_job_end(job_id)


def write_job_index(store: JobStore, job_id: str, job_dir: Path, pipeline: str) -> Path | None:
    """The job's ``index.html``: the run viewer of ``explainmyxray run`` over its cases."""
    from ..core.results import REPORT_FILE, case_dir, load_case
    from ..outputs import write_index

    job = store.job(job_id)
    if job is None:
        return None
    cases = []
    for c in job["cases"]:
        if (case_dir(job_dir, c["case_id"]) / REPORT_FILE).is_file():
            cases.append(load_case(job_dir, c["case_id"]))
    return write_index(job_dir, cases, title=f"ExplainMyXray job {job_id}", pipeline_name=pipeline)
