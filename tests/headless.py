"""Headless Chromium for page tests: a fresh profile, no network services, a screenshot and
optionally Chromium's own log of every network request the page made."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HEADLESS_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
"""What keeps Chromium offline and quiet (no background network calls, no updates, no sync)."""


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no headless browser found (looked for {', '.join(BROWSERS)})")


def screenshot(
    page: Path, work: Path, size: tuple[int, int], *, net_log: Path | None = None
) -> Path:
    """Render ``page`` and return the screenshot; ``net_log`` also records Chromium's NetLog."""
    shot = work / f"{page.stem}.png"
    command = [
        browser(),
        "--headless",
        *HEADLESS_FLAGS,
        f"--user-data-dir={work / 'chromium-profile'}",
        f"--screenshot={shot}",
        f"--window-size={size[0]},{size[1]}",
    ]
    if net_log is not None:
        command.append(f"--log-net-log={net_log}")
    result = subprocess.run(
        [*command, page.as_uri()], capture_output=True, text=True, timeout=120, cwd=work
    )
    assert shot.is_file(), f"no screenshot (exit {result.returncode}): {result.stderr[-900:]}"
    return shot


def page_requests(net_log: Path) -> set[str]:
    """Every URL the page itself asked the network for, from Chromium's NetLog.

    Chromium's own background requests (update checks, account lookups) start with the initiator
    ``not an origin``; requests a page makes carry its origin (``null`` for a ``file:`` page)."""
    document = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = document["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = set()
    for event in document.get("events", []):
        params = event.get("params") or {}
        url = params.get("url")
        if event.get("type") == start_job and url and params.get("initiator") != "not an origin":
            urls.add(url)
    return urls
