"""Operations: ``/healthz`` (the process answers), ``/readyz`` (it can take and run jobs),
``/metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from .app import ServiceDep
from .limits import require_token
from .metrics import CONTENT_TYPE
from .settings import ServiceSettings


def router(settings: ServiceSettings) -> APIRouter:
    ops = APIRouter(tags=["operations"])

    @ops.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process is up and answering."""
        return {"status": "ok"}

    @ops.get("/readyz", responses={503: {"description": "not ready; the body says why"}})
    def readyz(service: ServiceDep) -> JSONResponse:
        """Models loadable (weights present, preload succeeded), queue writable, worker alive."""
        problems = list(service.engine.missing_weights())
        if service.ready_error:
            problems.append(service.ready_error)
        try:
            service.store.check_writable()
        except Exception as exc:
            problems.append(f"queue not writable: {type(exc).__name__}: {exc}")
        if service.worker is None or not service.worker.alive:
            problems.append("the batch worker is not running")
        body = {
            "ready": not problems,
            "pipeline": service.engine.name,
            "steps": service.engine.steps,
            "batch_size": service.engine.batch_size,
            "queue_depth": service.store.queued_cases(),
            "problems": problems,
        }
        return JSONResponse(body, status_code=200 if not problems else 503)

    @ops.get(
        "/metrics",
        response_class=Response,
        dependencies=[Depends(require_token(settings.token))],
    )
    def metrics(service: ServiceDep) -> Response:
        """Jobs by state, queue depth, stage seconds, model loads/evictions, GPU memory."""
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    return ops
