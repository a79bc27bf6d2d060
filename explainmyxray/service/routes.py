"""The jobs API: ``/v1/jobs``."""

from __future__ import annotations

import json
import shutil
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from ..core.inputs import case_id
from ..core.results import REPORT_FILE, case_dir
from .app import Service, ServiceDep
from .callbacks import CallbackRejected, check_callback
from .job_options import JobOptionsError, Overrides, parse_options, variant_key
from .limits import client_key, require_token, too_many
from .settings import ServiceSettings
from .store import IdempotencyConflict, NewCase, new_id
from .uploads import UnsupportedMedia, inspect, request_hash, store
from .views import Accepted, JobSummary, JobView, job_view


def _reject(service: Service, status: int, detail: str) -> HTTPException:
    service.metrics.rejected.labels(str(status)).inc()
    return HTTPException(status_code=status, detail=detail)


def build_router(settings: ServiceSettings, allowed: dict[str, set[str]]) -> APIRouter:
    router = APIRouter(
        prefix="/v1",
        tags=["jobs"],
        dependencies=[Depends(require_token(settings.token))],
        responses={401: {"description": "missing or wrong bearer token"}},
    )

    @router.post(
        "/jobs",
        status_code=202,
        response_model=Accepted,
        responses={
            409: {"description": "Idempotency-Key reused for a different request"},
            413: {"description": "too many files, or the upload is too large"},
            415: {"description": "a file is not DICOM, PNG or JPEG (by content)"},
            422: {"description": "a field is invalid (callback_url, report)"},
            429: {"description": "too many requests or active jobs for this client"},
        },
    )
    def submit(
        request: Request,
        service: ServiceDep,
        files: Annotated[list[UploadFile], File(description="DICOM, PNG or JPEG radiographs")],
        report: Annotated[
            str | None, Form(description="a report to ground and verify (every file)")
        ] = None,
        callback_url: Annotated[
            str | None, Form(description="called (POST, JSON) when the job ends")
        ] = None,
        options: Annotated[
            str | None,
            Form(
                description='pipeline options, JSON: {"stage:plugin": {"option": value}}; only '
                "those the service allows (--job-option)"
            ),
        ] = None,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> JSONResponse:
        """Queue one job of one or more radiographs. Answers 202 with the job's id at once."""
        client = client_key(request)
        _admit(service, settings, client)
        overrides = _check_fields(
            service, settings, allowed, len(files), report, callback_url, options
        )
        try:
            uploads = [inspect(i, f.file, f.filename) for i, f in enumerate(files)]
        except UnsupportedMedia as exc:
            raise _reject(service, 415, str(exc)) from None
        digest = request_hash(uploads, report, callback_url, json.dumps(overrides, sort_keys=True))
        try:
            existing = idempotency_key and service.store.find_idempotent(
                client, idempotency_key, digest
            )
        except IdempotencyConflict:
            raise _reject(
                service,
                409,
                "this Idempotency-Key was used for a different request (other files or fields)",
            ) from None
        if existing:
            return _accepted(service, existing, replayed=True)

        job_id = new_id()
        inputs = settings.job_dir(job_id) / "inputs"
        cases = []
        for upload in uploads:
            path = store(upload, inputs)
            cases.append(
                NewCase(case_id(path), str(path), upload.media, upload.sha256, upload.size)
            )
        holder = service.store.create_job(
            job_id,
            client=client,
            cases=cases,
            request_hash=digest,
            report_text=report,
            callback_url=callback_url or None,
            idempotency_key=idempotency_key,
            options=overrides,
            variant=variant_key(overrides),
        )
        if holder != job_id:  # the same key won a race a moment ago
            shutil.rmtree(settings.job_dir(job_id), ignore_errors=True)
            return _accepted(service, holder, replayed=True)
        service.metrics.jobs_submitted.inc()
        assert service.worker is not None
        service.worker.notify()
        return _accepted(service, job_id, replayed=False)

    @router.get("/jobs", response_model=list[JobSummary])
    def list_jobs(service: ServiceDep, limit: int = 50) -> list[JobSummary]:
        """The most recent jobs, newest first."""
        return [JobSummary(**j) for j in service.store.jobs(max(1, min(limit, 500)))]

    @router.get("/jobs/{job_id}", response_model=JobView, responses={404: {}})
    def get_job(job_id: str, service: ServiceDep) -> JobView:
        """The job's state and each case's state, batch and errors."""
        return job_view(_job(service, job_id), service.engine.name)

    @router.delete("/jobs/{job_id}", response_model=JobView, responses={404: {}, 409: {}})
    def cancel_job(job_id: str, service: ServiceDep) -> JobView:
        """Cancel a job: its queued and running cases are dropped; finished ones are kept."""
        outcome = service.store.cancel(job_id)
        if outcome is None:
            raise HTTPException(404, f"no job {job_id}")
        state, cancelled = outcome
        if not cancelled:
            raise HTTPException(409, f"job {job_id} already ended ({state})")
        service.job_ended(job_id)
        return job_view(_job(service, job_id), service.engine.name)

    @router.get("/jobs/{job_id}/cases/{case}/report.json", responses={404: {}, 409: {}})
    def get_report(job_id: str, case: str, service: ServiceDep) -> FileResponse:
        """The case's ``report.json`` (the schema: ``explainmyxray schema``)."""
        return FileResponse(
            _case_file(service, job_id, case, REPORT_FILE), media_type="application/json"
        )

    @router.get("/jobs/{job_id}/cases/{case}/overlay.png", responses={404: {}, 409: {}})
    def get_overlay(job_id: str, case: str, service: ServiceDep) -> FileResponse:
        """The radiograph with each finding's regions drawn over it."""
        return FileResponse(
            _case_file(service, job_id, case, "overlay.png"), media_type="image/png"
        )

    @router.get("/jobs/{job_id}/index.html", response_class=HTMLResponse, responses={404: {}})
    def get_viewer(job_id: str, service: ServiceDep) -> HTMLResponse:
        """The job's cases in the run viewer of ``explainmyxray run`` (self-contained HTML)."""
        from ..core.results import load_case
        from ..outputs.html import INDEX_FILE, render_index

        job = _job(service, job_id)
        job_dir = settings.job_dir(job_id)
        written = job_dir / INDEX_FILE
        if job["state"] in {"finished", "failed"} and written.is_file():
            return HTMLResponse(written.read_text(encoding="utf-8"))
        cases = [
            load_case(job_dir, c["case_id"])
            for c in job["cases"]
            if (case_dir(job_dir, c["case_id"]) / REPORT_FILE).is_file()
        ]
        title = f"ExplainMyXray job {job_id} ({job['state']})"
        return HTMLResponse(
            render_index(cases, title=title, pipeline_name=service.engine.name, run_dir=job_dir)
        )

    return router


def _admit(service: Service, settings: ServiceSettings, client: str) -> None:
    """The per-client rate and concurrency limits (429 with Retry-After)."""
    wait = service.rate.take(client)
    if wait:
        service.metrics.rejected.labels("429").inc()
        raise too_many("too many requests from this client; slow down", wait)
    if service.store.active_jobs(client) >= settings.max_active_jobs:
        service.metrics.rejected.labels("429").inc()
        raise too_many(
            f"this client already has {settings.max_active_jobs} queued or running jobs; "
            "wait for one to end",
            5,
        )


def _check_fields(
    service: Service,
    settings: ServiceSettings,
    allowed: dict[str, set[str]],
    files: int,
    report: str | None,
    callback_url: str | None,
    options: str | None,
) -> Overrides:
    """The request's sizes and fields; returns the job's pipeline options."""
    if files > settings.max_files:
        raise _reject(
            service,
            413,
            f"{files} files in one job; this service accepts at most {settings.max_files} per job",
        )
    if report is not None and len(report) > settings.max_report_chars:
        raise _reject(
            service,
            413,
            f"the report has {len(report)} characters; at most {settings.max_report_chars}",
        )
    if callback_url:
        try:
            check_callback(callback_url, settings.callback_hosts)
        except CallbackRejected as exc:
            raise _reject(service, 422, str(exc)) from None
    try:
        overrides = parse_options(options, allowed)
        service.engine.check_options(overrides)
    except JobOptionsError as exc:
        raise _reject(service, 422, str(exc)) from None
    return overrides


def _accepted(service: Service, job_id: str, *, replayed: bool) -> JSONResponse:
    job = service.store.job(job_id)
    assert job is not None
    location = f"/v1/jobs/{job_id}"
    body = Accepted(id=job_id, state=job["state"], location=location, replayed=replayed)
    return JSONResponse(body.model_dump(), status_code=202, headers={"Location": location})


def _job(service: Service, job_id: str) -> dict:
    job = service.store.job(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return job


def _case_file(service: Service, job_id: str, case: str, name: str):
    row = service.store.case(job_id, case)
    if row is None:
        raise HTTPException(404, f"job {job_id} has no case {case}")
    if row["state"] not in {"finished", "failed"}:
        raise HTTPException(409, f"case {case} is {row['state']}; poll the job until it ends")
    path = case_dir(service.settings.job_dir(job_id), case) / name
    if not path.is_file():
        raise HTTPException(404, f"case {case} has no {name} (see the case's errors)")
    return path
