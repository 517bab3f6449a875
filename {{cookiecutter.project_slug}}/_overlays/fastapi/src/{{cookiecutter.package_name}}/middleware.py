"""Per-request plumbing as pure ASGI middleware: request ids, access log, metrics, limits.

Pure ASGI (not `BaseHTTPMiddleware`) keeps the cost per request low: no extra task,
no body buffering.
"""

import json
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ContentTooLargeError
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
    """Give every HTTP request an id, safety headers, an access event and metrics.

    - `X-Request-ID`: the client's if sane, else a new one; bound to every log line
      of the request and echoed in the response.
    - `X-Content-Type-Options: nosniff` on every response.
    - One `request` access event: method, path, status, duration_ms, request_id;
      none for `/health/*` and `/metrics` unless `access_log_probes`.
    - Metrics by route template (not `/metrics` itself).
    - An exception nothing else handled becomes a logged 500 problem, never a trace.
    - `HEAD` is served wherever `GET` is (RFC 9110 9.3.2): the app sees a GET, and the
      server sends the headers without the body (FastAPI routes answer GET only).
    """

    def __init__(
        self, app: ASGIApp, *, metrics: HttpMetrics, access_log_probes: bool = False
    ) -> None:
        """Wrap `app`; record into `metrics`; log probe requests only if `access_log_probes`."""
        self.app = app
        self.metrics = metrics
        self.access_log_probes = access_log_probes
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
        status = 500
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        # A copy: the server keeps its own scope, whose "HEAD" makes it drop the body.
        app_scope = {**scope, "method": "GET"} if scope["method"] == "HEAD" else scope
        try:
            await self.app(app_scope, receive, send_with_headers)
        except Exception as exc:
            error_log.exception("unhandled exception", path=scope["path"])
            if not started:
                await send_problem(send_with_headers, problem_for_exception(exc, scope["path"]))
        finally:
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


class BodyLimitMiddleware:
    """Refuse request bodies larger than `max_body_bytes` with 413.

    A declared `Content-Length` over the limit is refused before reading; a chunked
    body is counted as it streams, and reading stops at the limit.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        """Wrap `app`; bodies over `max_body_bytes` bytes get 413."""
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then stream the body under the limit."""
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await send_problem(send, problem(413, self.detail, instance=scope["path"]))
            return
        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    raise ContentTooLargeError(self.detail)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Body parsing turns any error while reading into a 400: once the body is
            # known to be too large, drop the app's answer and send the 413 instead.
            if not too_large:
                started = True
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except ContentTooLargeError:
            if started:
                raise
        if too_large and not started:
            await send_problem(send, problem(413, self.detail, instance=scope["path"]))

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
