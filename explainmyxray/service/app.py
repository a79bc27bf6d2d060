"""The FastAPI application: lifespan (queue, recovery, worker), middleware and routers."""

from __future__ import annotations

import logging
import shutil
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from .callbacks import deliver
from .engine_adapter import ServingEngine
from .job_options import allowed_options
from .limits import BodyLimit, TokenBucket
from .metrics import ServiceMetrics
from .settings import ServiceSettings
from .store import JobStore
from .views import job_view
from .worker import BatchWorker, write_job_index

log = logging.getLogger(__name__)


@dataclass
class Service:
    """What the routes share for the life of the process."""

    settings: ServiceSettings
    engine: ServingEngine
    store: JobStore
    metrics: ServiceMetrics
    worker: BatchWorker | None = None
    rate: TokenBucket = field(default_factory=lambda: TokenBucket(rate=120, burst=60))
    ready_error: str | None = None
    _callbacks: list[threading.Thread] = field(default_factory=list)

    def job_ended(self, job_id: str) -> None:
        """Write the job's viewer, count its latency, call its callback."""
        job = self.store.job(job_id)
        if job is None:
            return
        if job["state"] != "cancelled":
            write_job_index(self.store, job_id, self.settings.job_dir(job_id), self.engine.name)
        if job["finished"]:
            self.metrics.job_seconds.observe(job["finished"] - job["created"])
        if job["callback_url"]:
            thread = threading.Thread(
                target=self._call_back, args=(job_id,), name="explainmyxray-callback", daemon=True
            )
            self._callbacks.append(thread)
            thread.start()

    def _call_back(self, job_id: str) -> None:
        job = self.store.job(job_id)
        if job is None:
            return
        payload: dict[str, Any] = job_view(job, self.engine.name).model_dump(mode="json")
        delivered = deliver(job["callback_url"], payload, token=None)
        self.store.set_callback_state(job_id, "delivered" if delivered else "failed")

    def wait_for_callbacks(self, timeout: float) -> None:
        for thread in self._callbacks:
            thread.join(timeout)


def service_of(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(service_of)]


def create_app(settings: ServiceSettings, engine: ServingEngine) -> FastAPI:
    from .ops import router as ops_router
    from .page import router as page_router
    from .routes import build_router

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store = JobStore(settings.data_dir)
        requeued, failed = await run_in_threadpool(store.recover)
        if requeued or failed:
            log.warning(
                "recovered the queue: %d case(s) re-queued, %d failed after repeated crashes",
                requeued,
                failed,
            )
        _remove_orphans(settings, store)
        service = Service(
            settings=settings,
            engine=engine,
            store=store,
            metrics=ServiceMetrics(store, engine),
            rate=TokenBucket(rate=settings.rate_per_minute, burst=settings.rate_burst),
        )
        if settings.preload:
            try:
                await run_in_threadpool(engine.preload)
            except Exception as exc:
                service.ready_error = f"preloading models failed: {type(exc).__name__}: {exc}"
                log.error("%s", service.ready_error)
        service.worker = BatchWorker(store, engine, settings, service.metrics, service.job_ended)
        app.state.service = service
        service.worker.start()
        for job_id in store.pending_callbacks():
            service.job_ended(job_id)
        try:
            yield
        finally:
            requeued = await run_in_threadpool(service.worker.stop, settings.shutdown_timeout_s)
            log.warning(
                "stopped: the running batch %s",
                "was re-queued" if requeued else "finished (nothing left running)",
            )
            await run_in_threadpool(service.wait_for_callbacks, 5.0)
            await run_in_threadpool(engine.close)

    app = FastAPI(
        title="ExplainMyXray",
        summary="Structured, anatomically grounded, verified chest X-ray reports as a job service.",
        version=_version(),
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes, prefix="/v1/jobs")
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Idempotency-Key", "Content-Type"],
        )
    app.include_router(
        build_router(settings, allowed_options(engine.pipeline, settings.job_options))
    )
    app.include_router(ops_router(settings))
    app.include_router(page_router)
    return app


def _remove_orphans(settings: ServiceSettings, store: JobStore) -> None:
    """Folders of uploads whose job was never recorded (the server died while accepting it)."""
    if not settings.jobs_dir.is_dir():
        return
    known = store.known_job_ids()
    for folder in settings.jobs_dir.iterdir():
        if folder.is_dir() and folder.name not in known:
            shutil.rmtree(folder, ignore_errors=True)


def _version() -> str:
    from .. import __version__

    return __version__
