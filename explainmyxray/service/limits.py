"""Who may call the service and how much: bearer token, request size, rate and concurrency."""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_ENV = "EXPLAINMYXRAY_API_TOKEN"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_key(request: Request) -> str:
    """The client a limit applies to: its address (proxies' forwarding headers are not trusted)."""
    return request.client.host if request.client else "unknown"


def require_token(token: str | None) -> Callable[[Request], None]:
    """A dependency that checks ``Authorization: Bearer <token>`` when a token is configured."""
    expected = token.encode() if token else None

    def check(request: Request) -> None:
        if expected is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong bearer token (send 'Authorization: Bearer <token>')",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


@dataclass
class TokenBucket:
    """``rate`` requests per minute on average, ``burst`` at once."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _state: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str) -> float:
        """Take one token for ``key``; returns 0 when allowed, else seconds until one is free."""
        now = self.clock()
        per_second = self.rate / 60.0
        with self._lock:
            tokens, last = self._state.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * per_second)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / per_second if per_second > 0 else math.inf


def too_many(detail: str, retry_after: float) -> HTTPException:
    return HTTPException(
        status_code=429,
        detail=detail,
        headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
    )


class BodyLimit:
    """Pure ASGI middleware: a request body larger than ``max_bytes`` to a path starting with
    ``prefix`` is answered 413 before it is parsed (from Content-Length when given, else while
    it streams in)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, prefix: str = "/v1/") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefix = prefix

    def _message(self) -> str:
        mib = self.max_bytes / (1 << 20)
        return f"the upload is larger than this service accepts ({mib:.3g} MiB per job)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            _count_rejection(scope)
            await _reject(send, 413, self._message())
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI passes an HTTPException raised while reading the body through to
                    # its exception handler, which answers with this status and detail
                    _count_rejection(scope)
                    raise HTTPException(413, self._message())
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except HTTPException as exc:
            if started or exc.status_code != 413:
                raise
            await _reject(send, 413, str(exc.detail))


def _count_rejection(scope: Scope) -> None:
    service = getattr(scope["app"].state, "service", None)
    if service is not None:
        service.metrics.rejected.labels("413").inc()


async def _reject(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
