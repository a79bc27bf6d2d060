"""The service's web page: upload radiographs, follow jobs, open a case's overlay and findings
and the job's run viewer. One self-contained HTML file; it calls the same ``/v1`` API."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@cache
def _page() -> str:
    return files(__package__).joinpath("page.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
def page() -> HTMLResponse:
    return HTMLResponse(
        _page(),
        headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-src 'self' blob:",
            "X-Content-Type-Options": "nosniff",
        },
    )
