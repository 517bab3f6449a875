"""Per-request plumbing as Flask hooks: request ids, body checks, access log, metrics.

Each greenlet of a gevent worker has its own contextvars, but the context is still
cleared at the start of every request, before anything is bound (a worker thread or
greenlet may serve several requests).
"""

import functools
import io
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import structlog
from flask import Flask, Response, abort, g, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from .handlers import problem_response
from .logs import is_probe, request_id_from
from .metrics import METRICS_PATH, UNMATCHED_ROUTE, HttpMetrics
from .problems import require_json, validation_problem

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
BODY_TOO_LARGE = "{{ cookiecutter.package_name }}.body_too_large"  # WSGI environ key
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

access_log = structlog.get_logger("access")


def route_template() -> str:
    """Return the matched route in OpenAPI form (`/api/v1/items/{item_id}`), as FastAPI does."""
    rule = request.url_rule
    return UNMATCHED_ROUTE if rule is None else openapi_path(rule.rule)


@functools.cache
def openapi_path(rule: str) -> str:
    """Return Werkzeug's `rule` (`/items/<item_id>`) in OpenAPI form (`/items/{item_id}`).

    Cached: the rules are the app's few routes, and this runs on every request.
    """
    return _CONVERTER.sub(r"{\1}", rule)


def bind_request() -> None:
    """Start the request's clock and bind its request id (after a clean slate)."""
    g.started_at = time.perf_counter()
    g.request_id = request_id_from(request.headers.get("X-Request-ID"))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=g.request_id)


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


class BodyLimit:
    """WSGI middleware: hold request bodies to `max_body_bytes`, keeping keep-alive sound.

    A body over the limit (declared by Content-Length, or chunked and counted while
    read) is read and dropped, up to `DRAIN_FACTOR` times the limit, so the connection
    can serve the next request (gunicorn closes a connection whose last body was left
    unread, after answering it keep-alive); `check_body` then answers 413 through
    the normal error handlers. Werkzeug alone would cut a chunked body at the limit
    silently, and it would fail as broken JSON.
    """

    DRAIN_FACTOR = 16

    def __init__(self, wsgi_app: "WSGIApplication", max_body_bytes: int) -> None:
        """Wrap `wsgi_app`; bodies over `max_body_bytes` bytes get 413."""
        self.wsgi_app = wsgi_app
        self.max_body_bytes = max_body_bytes

    def __call__(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        """Check the body against the limit, then call the app."""
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
        return self.wsgi_app(environ, start_response)

    def _refuse(self, environ: "WSGIEnvironment") -> None:
        """Drop the body (reading at most DRAIN_FACTOR x the limit) and flag a 413."""
        stream = environ["wsgi.input"]
        budget = self.DRAIN_FACTOR * self.max_body_bytes
        while budget > 0 and (chunk := stream.read(min(65536, budget))):
            budget -= len(chunk)
        environ[BODY_TOO_LARGE] = True
        environ["wsgi.input"] = io.BytesIO(b"")
        environ["CONTENT_LENGTH"] = "0"


def finish_request(
    response: Response, metrics: HttpMetrics, log: Any = access_log, log_probes: bool = False
) -> Response:
    """Add the request id and nosniff headers; record metrics; log one access event to `log`.

    Requests to `/health/*` and `/metrics` are logged only with `log_probes`.
    """
    request_id = g.get("request_id") or request_id_from(None)
    headers = response.headers
    headers["X-Request-ID"] = request_id
    headers["X-Content-Type-Options"] = "nosniff"
    seconds = time.perf_counter() - g.get("started_at", time.perf_counter())
    # `request` is a context-local proxy: read each attribute once.
    method, path, status = request.method, request.path, response.status_code
    if path != METRICS_PATH:
        metrics.observe(method, route_template(), status, seconds)
    if log_probes or not is_probe(path):
        log.info(
            "request", method=method, path=path, status=status, duration_ms=round(seconds * 1000, 3)
        )
    return response


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
    require_access: Callable[[], None] | None = None,
    access_log_probes: bool = False,
) -> None:
    """Install the hooks on `app`, recording into `metrics`; limit bodies to `max_body_bytes`.

    Requests to `/health/*` and `/metrics` get an access event only with `access_log_probes`.

    `require_access` (the access guard, if any) runs after the request id is bound and
    before the body checks: a caller without credentials gets 401, not 415 or 400.
    """
    app.wsgi_app = BodyLimit(app.wsgi_app, max_body_bytes)  # type: ignore[method-assign]
    app.before_request(bind_request)
    if require_access is None:
        app.before_request(check_body)
    else:
        # One hook, not two: Flask's dispatch of each hook costs more than the guard's
        # check of a remembered token (see bench/README.md).
        guard = require_access

        def check_access_and_body() -> Response | None:
            """Admit the caller (the guard), then check the body."""
            guard()
            return check_body()

        app.before_request(check_access_and_body)
    # The access logger resolved once (`configure_logging` has run): the module-level
    # lazy proxy would re-resolve on every event.
    log = access_log.bind()
    app.after_request(lambda response: finish_request(response, metrics, log, access_log_probes))
