"""Per-request plumbing as one pure ASGI middleware: ids, body limit, logs, metrics, the gate.

Pure ASGI (not `BaseHTTPMiddleware`) and one layer (not one per concern) keep the
cost per request low: no extra task, no body buffering, one extra call per request.
"""

import json
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ContentTooLargeError
from .gate import MigrationGate
from .logs import is_probe, request_id_from
from .metrics import METRICS_PATH, UNMATCHED_ROUTE, HttpMetrics
from .problems import PROBLEM_MEDIA_TYPE, problem, problem_for_exception

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

access_log = structlog.get_logger("access")
error_log = structlog.get_logger("error")


def _header(scope: Scope, name: bytes) -> bytes | None:
    """Return the first value of header `name` (lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class RequestContextMiddleware:
    """Give every HTTP request an id, safety headers, a body limit, an access event and metrics.

    - `X-Request-ID`: the client's if sane, else a new one; bound to every log line
      of the request and echoed in the response.
    - `X-Content-Type-Options: nosniff` on every response; `Cache-Control: no-store` on
      every response under `no_store_prefixes` (the protected routes, see `guard`).
    - Request bodies over `max_body_bytes` get 413: a declared `Content-Length` over the
      limit is refused before reading; a chunked body is counted as it streams, and
      reading stops at the limit.
    - One `request` access event: method, path, status, duration_ms, request_id;
      none for `/health/*` and `/metrics` unless `access_log_probes`.
    - Metrics by route template (not `/metrics` itself).
    - An exception nothing else handled becomes a logged 500 problem, never a trace.
    - `HEAD` is served wherever `GET` is (RFC 9110 9.3.2): the app sees a GET, and the
      server sends the headers without the body (FastAPI routes answer GET only).
    - While `gate` is closed (a migration not done), a resource route answers 503 with
      `Retry-After` before anything else (`gate.MigrationGate.hold`); once it is open,
      that costs one attribute read.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics,
        max_body_bytes: int,
        gate: MigrationGate,
        access_log_probes: bool = False,
        no_store_prefixes: tuple[str, ...] = (),
    ) -> None:
        """Wrap `app`; record into `metrics`; bodies over `max_body_bytes` bytes get 413;
        resource routes wait for `gate`."""
        self.app = app
        self.metrics = metrics
        self.gate = gate
        self.max_body_bytes = max_body_bytes
        self.access_log_probes = access_log_probes
        self.no_store_prefixes = no_store_prefixes
        # Resolved once (Starlette builds middleware after `configure_logging`): the
        # module-level lazy proxy would re-resolve on every event.
        self.access_log = access_log.bind()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection event; non-HTTP scopes pass through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = request_id_from(
            (_header(scope, b"x-request-id") or b"").decode("latin-1") or None
        )
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        extra_headers = [
            (b"x-request-id", request_id.encode("latin-1")),
            (b"x-content-type-options", b"nosniff"),
        ]
        if scope["path"].startswith(self.no_store_prefixes):
            extra_headers.append((b"cache-control", b"no-store"))
        status = 500
        started = False
        received = 0
        too_large = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started
            if too_large:
                # Body parsing turns any error while reading into a 400: once the body is
                # known to be too large, drop the app's answer and send the 413 instead.
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    raise ContentTooLargeError(self.detail)
            return message

        # A copy: the server keeps its own scope, whose "HEAD" makes it drop the body.
        app_scope = {**scope, "method": "GET"} if scope["method"] == "HEAD" else scope
        try:
            if not self.gate.open and (held := await self.gate.hold(app_scope)) is not None:
                retry_after = (b"retry-after", self.gate.retry_after.encode())
                await send_problem(send_with_headers, held, [retry_after])
            elif scope["method"] not in BODY_METHODS:
                await self.app(app_scope, receive, send_with_headers)
            elif self._declared_too_large(scope):
                too_large = True
            else:
                await self.app(app_scope, limited_receive, send_with_headers)
        except ContentTooLargeError:
            if started:  # the app had answered before reading all of the body
                error_log.exception("unhandled exception", path=scope["path"])
        except Exception as exc:
            error_log.exception("unhandled exception", path=scope["path"])
            if not started:
                await send_problem(send_with_headers, problem_for_exception(exc, scope["path"]))
        finally:
            if too_large and not started:
                too_large = False  # the 413 itself goes out
                await send_problem(
                    send_with_headers, problem(413, self.detail, instance=scope["path"])
                )
            path = scope["path"]
            seconds = time.perf_counter() - start
            if path != METRICS_PATH:
                route = app_scope.get("route")
                template = getattr(route, "path", UNMATCHED_ROUTE)
                self.metrics.observe(scope["method"], template, status, seconds)
            if self.access_log_probes or not is_probe(path):
                self.access_log.info(
                    "request",
                    method=scope["method"],
                    path=path,
                    status=status,
                    duration_ms=round(seconds * 1000, 3),
                )

    def _declared_too_large(self, scope: Scope) -> bool:
        """Return whether the request's `Content-Length` is over the limit."""
        length = _header(scope, b"content-length")
        return length is not None and length.isdigit() and int(length) > self.max_body_bytes

    @property
    def detail(self) -> str:
        """Return the 413 problem's detail."""
        return f"The request body exceeds {self.max_body_bytes} bytes."


async def send_problem(send: Send, body: dict[str, Any], headers: list[Any] | None = None) -> None:
    """Send a complete problem+json response straight to the ASGI server."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": body["status"],
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
