"""Per-request plumbing: one WSGI middleware (request ids, body limit, access log, metrics).

`RequestContext` wraps the whole Flask app, so it runs once per request without
Flask's request-hook dispatch or context-local lookups; only the checks that need the
matched route (the migration gate, the access guard, `check_body`) stay one
`before_request` hook. Each greenlet of a gevent worker has its own contextvars, and
the context is still cleared at the start of every request, before anything is bound
(a worker thread or greenlet may serve several requests).
"""

import functools
import io
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import structlog
from flask import Flask, Response, abort, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from .gate import MigrationGate
from .handlers import problem_response
from .logs import is_probe, request_id_from
from .metrics import METRICS_PATH, UNMATCHED_ROUTE, HttpMetrics
from .problems import require_json, validation_problem

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
BODY_TOO_LARGE = "{{ cookiecutter.package_name }}.body_too_large"  # WSGI environ key
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

access_log = structlog.get_logger("access")


@functools.cache
def openapi_path(rule: str) -> str:
    """Return Werkzeug's `rule` (`/items/<item_id>`) in OpenAPI form (`/items/{item_id}`).

    Cached: the rules are the app's few routes, and this runs on every request.
    """
    return _CONVERTER.sub(r"{\1}", rule)


def route_template(environ: "WSGIEnvironment") -> str:
    """Return the route the request matched in OpenAPI form, or `UNMATCHED_ROUTE`.

    Werkzeug keeps the request object in `environ["werkzeug.request"]` while Flask's
    request context is pushed, which includes the call to `start_response`.
    """
    rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
    return UNMATCHED_ROUTE if rule is None else openapi_path(rule.rule)


def check_body() -> Response | None:
    """Refuse bodies too large (413), not JSON (415) or broken (400).

    Runs after routing: unknown routes and wrong methods are left to their 404/405.
    """
    if request.method in BODY_METHODS and request.routing_exception is None:
        if request.environ.get(BODY_TOO_LARGE):
            raise RequestEntityTooLarge
        require_json(request.headers.get("Content-Type"))
        # Parse once here (Werkzeug caches it): invalid JSON raises BadRequest (400),
        # and a body that is not an object fails like FastAPI's (422).
        try:
            body = request.get_json()
        except RecursionError:
            # json.loads gives up on deeply nested input with RecursionError, which
            # Werkzeug does not turn into a 400 (it catches ValueError only).
            raise BadRequest from None
        if not isinstance(body, dict):
            abort(problem_response(not_an_object_problem()))
    return None


class RequestContext:
    """WSGI middleware: give every request an id, safety headers, a body limit, an
    access event and metrics, in one pass.

    - `X-Request-ID`: the client's if sane, else a new one; bound to every log line
      of the request and echoed in the response.
    - `X-Content-Type-Options: nosniff` on every response; `Cache-Control: no-store` on
      every response under `no_store_prefixes` (the protected routes, see `guard`).
    - Bodies held to `max_body_bytes`: one over the limit (declared by Content-Length,
      or chunked and counted while read) is read and dropped, up to `DRAIN_FACTOR`
      times the limit, so the connection can serve the next request (gunicorn closes
      a connection whose last body was left unread, after answering it keep-alive);
      `check_body` then answers 413 through the normal error handlers. Werkzeug alone
      would cut a chunked body at the limit silently, and it would fail as broken JSON.
    - One `request` access event: method, path, status, duration_ms, request_id;
      none for `/health/*` and `/metrics` unless `access_log_probes`.
    - Metrics by route template (not `/metrics` itself).
    """

    DRAIN_FACTOR = 16

    def __init__(
        self,
        wsgi_app: "WSGIApplication",
        *,
        metrics: HttpMetrics,
        max_body_bytes: int,
        access_log_probes: bool = False,
        no_store_prefixes: tuple[str, ...] = (),
    ) -> None:
        """Wrap `wsgi_app`; record into `metrics`; bodies over `max_body_bytes` bytes get 413."""
        self.wsgi_app = wsgi_app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.access_log_probes = access_log_probes
        self.no_store_prefixes = no_store_prefixes
        # Resolved once (the app factory builds this after `configure_logging`): the
        # module-level lazy proxy would re-resolve on every event.
        self.access_log = access_log.bind()

    def __call__(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        """Serve one request through the app, then log and count it."""
        started = time.perf_counter()
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        if environ["REQUEST_METHOD"] in BODY_METHODS:
            self._limit_body(environ)
        status = 500
        route = UNMATCHED_ROUTE
        no_store = environ["PATH_INFO"].startswith(self.no_store_prefixes)

        def start_with_headers(
            status_line: str, headers: list[tuple[str, str]], exc_info: "OptExcInfo | None" = None
        ) -> Callable[[bytes], object]:
            nonlocal status, route
            status = int(status_line[:3])
            route = route_template(environ)
            headers.append(("X-Request-ID", request_id))
            headers.append(("X-Content-Type-Options", "nosniff"))
            if no_store:
                headers.append(("Cache-Control", "no-store"))
            return start_response(status_line, headers, exc_info)

        try:
            return self.wsgi_app(environ, start_with_headers)
        finally:
            self._record(environ, route, status, time.perf_counter() - started)

    def _record(self, environ: "WSGIEnvironment", route: str, status: int, seconds: float) -> None:
        """Count the request in the metrics and log its access event."""
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        if path != METRICS_PATH:
            self.metrics.observe(method, route, status, seconds)
        if self.access_log_probes or not is_probe(path):
            self.access_log.info(
                "request",
                method=method,
                path=path,
                status=status,
                duration_ms=round(seconds * 1000, 3),
            )

    def _limit_body(self, environ: "WSGIEnvironment") -> None:
        """Flag a body over the limit (and drop it); buffer a chunked one under it."""
        stream = environ["wsgi.input"]
        declared = environ.get("CONTENT_LENGTH", "")
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = stream.read(self.max_body_bytes + 1)
            if len(body) > self.max_body_bytes:
                self._refuse(environ)
            else:
                environ["wsgi.input"] = io.BytesIO(body)
                environ["CONTENT_LENGTH"] = str(len(body))
        elif declared.isdigit() and int(declared) > self.max_body_bytes:
            self._refuse(environ)

    def _refuse(self, environ: "WSGIEnvironment") -> None:
        """Drop the body (reading at most DRAIN_FACTOR x the limit) and flag a 413."""
        stream = environ["wsgi.input"]
        budget = self.DRAIN_FACTOR * self.max_body_bytes
        while budget > 0 and (chunk := stream.read(min(65536, budget))):
            budget -= len(chunk)
        environ[BODY_TOO_LARGE] = True
        environ["wsgi.input"] = io.BytesIO(b"")
        environ["CONTENT_LENGTH"] = "0"


def not_an_object_problem() -> dict[str, Any]:
    """Return the 422 problem for a JSON body that is not an object."""
    return validation_problem(
        [
            {
                "loc": ["body"],
                "msg": "Input should be a valid dictionary or object to extract fields from",
                "type": "model_attributes_type",
            }
        ],
        request.path,
    )


def init_app(
    app: Flask,
    metrics: HttpMetrics,
    max_body_bytes: int,
    gate: MigrationGate,
    require_access: Callable[[], None] | None = None,
    access_log_probes: bool = False,
    no_store_prefixes: tuple[str, ...] = (),
) -> None:
    """Wrap `app` in `RequestContext` and install the request checks as its one request hook.

    Requests to `/health/*` and `/metrics` get an access event only with `access_log_probes`;
    answers under `no_store_prefixes` say `Cache-Control: no-store`.

    The hook runs, after routing: the migration `gate` (while it is closed, a resource
    route answers 503 with `Retry-After`; once open, that costs one attribute read),
    then `require_access` (the access guard, if any), then the body checks: a caller
    without credentials gets 401, not 415 or 400.
    """
    app.wsgi_app = RequestContext(  # type: ignore[method-assign]
        app.wsgi_app,
        metrics=metrics,
        max_body_bytes=max_body_bytes,
        access_log_probes=access_log_probes,
        no_store_prefixes=no_store_prefixes,
    )
    # One hook, not several: Flask's dispatch of each hook costs more than the guard's
    # check of a remembered token (see bench/README.md).
    guard = require_access

    def check_request() -> Response | None:
        """Hold resource routes back while migrations are not done, admit the caller,
        then check the body."""
        if not gate.open and (held := gate.hold()) is not None:
            return problem_response(held, {"Retry-After": gate.retry_after})
        if guard is not None:
            guard()
        return check_body()

    app.before_request(check_request)
