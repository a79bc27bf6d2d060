"""What a job looks like from outside: the JSON of ``GET /v1/jobs/{id}`` and of callbacks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

JobState = Literal["queued", "running", "finished", "failed", "cancelled"]


class CaseErrorView(BaseModel):
    stage: str
    plugin: str
    error_type: str
    message: str


class CaseView(BaseModel):
    case: str = Field(description="case id; the case folder is cases/<case>/")
    index: int = Field(description="position of the file in the upload, from 0")
    state: JobState
    media: str = Field(description="dicom, png or jpeg, sniffed from the content")
    sha256: str
    batch: str | None = Field(None, description="the engine batch that ran (or runs) the case")
    attempts: int
    errors: list[CaseErrorView] = []
    report: str | None = Field(None, description="URL of report.json once the case finished")
    overlay: str | None = Field(None, description="URL of overlay.png once the case finished")


class JobView(BaseModel):
    id: str
    state: JobState
    pipeline: str
    created: float
    updated: float
    finished: float | None = None
    total: int
    counts: dict[str, int]
    callback_state: str | None = None
    viewer: str = Field(description="URL of the job's HTML viewer (index.html)")
    cases: list[CaseView]


class JobSummary(BaseModel):
    id: str
    state: JobState
    created: float
    finished: float | None = None
    total: int
    finished_cases: int
    failed_cases: int


class Accepted(BaseModel):
    id: str
    state: JobState
    location: str
    replayed: bool = Field(False, description="an earlier request with this Idempotency-Key")


def job_view(job: dict[str, Any], pipeline: str, base: str = "/v1") -> JobView:
    url = f"{base}/jobs/{job['id']}"
    counts: dict[str, int] = {}
    cases = []
    for c in job["cases"]:
        counts[c["state"]] = counts.get(c["state"], 0) + 1
        done = c["state"] in {"finished", "failed"}
        cases.append(
            CaseView(
                case=c["case_id"],
                index=c["position"],
                state=c["state"],
                media=c["media"],
                sha256=c["sha256"],
                batch=c["batch_id"],
                attempts=c["attempts"],
                errors=[CaseErrorView(**e) for e in c["errors"]],
                report=f"{url}/cases/{c['case_id']}/report.json" if done else None,
                overlay=f"{url}/cases/{c['case_id']}/overlay.png"
                if c["state"] == "finished"
                else None,
            )
        )
    return JobView(
        id=job["id"],
        state=job["state"],
        pipeline=pipeline,
        created=job["created"],
        updated=job["updated"],
        finished=job["finished"],
        total=len(cases),
        counts=counts,
        callback_state=job["callback_state"],
        viewer=f"{url}/index.html",
        cases=cases,
    )
