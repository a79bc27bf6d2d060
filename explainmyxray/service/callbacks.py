"""Callback URLs: checked against an allowlist of hosts when a job is submitted, called (POST,
JSON) when the job ends, with a few bounded retries."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

ATTEMPTS = 3
TIMEOUT_S = 5.0


class CallbackRejected(ValueError):
    pass


def check_callback(url: str, allowed_hosts: Iterable[str]) -> str:
    """Return ``url`` if it is http(s) to an allowed host; otherwise say why not."""
    allowed = {h.lower() for h in allowed_hosts}
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise CallbackRejected("callback_url must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise CallbackRejected("callback_url must not carry credentials")
    if not allowed:
        raise CallbackRejected(
            "this service calls back no host (start it with --callback-host HOST to allow one)"
        )
    if parts.hostname.lower() not in allowed:
        listed = ", ".join(sorted(allowed))
        raise CallbackRejected(
            f"callback host {parts.hostname!r} is not allowed (allowed: {listed})"
        )
    return url


def deliver(url: str, payload: dict, *, token: str | None = None) -> bool:
    """POST ``payload``; True once a 2xx answer came back. Redirects are not followed (they
    could lead off the allowlist)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for attempt in range(1, ATTEMPTS + 1):
        try:
            answer = httpx.post(
                url, json=payload, headers=headers, timeout=TIMEOUT_S, follow_redirects=False
            )
            if 200 <= answer.status_code < 300:
                return True
            log.warning("callback for job %s answered %d", payload.get("id"), answer.status_code)
        except httpx.HTTPError as exc:
            log.warning("callback for job %s failed: %s", payload.get("id"), type(exc).__name__)
        if attempt < ATTEMPTS:
            time.sleep(0.5 * 2**attempt)
    return False
