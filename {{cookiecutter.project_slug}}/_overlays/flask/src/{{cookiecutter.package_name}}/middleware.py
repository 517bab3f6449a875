"""Per-request plumbing as Flask hooks: request ids, body checks, access log, metrics.

gthread workers reuse threads, so the log context is cleared at the start of every
request, before anything is bound.
"""

import re
import time
from typing import Any

import structlog
from flask import Flask, Response, abort, g, request

from .handlers import problem_response
from .logs import request_id_from
from .metrics import METRICS_PATH, UNMATCHED_ROUTE, HttpMetrics
from .problems import require_json, validation_problem

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

access_log = structlog.get_logger("access")


def route_template() -> str:
    """Return the matched route in OpenAPI form (`/api/v1/items/{item_id}`), as FastAPI does."""
    rule = request.url_rule
    return UNMATCHED_ROUTE if rule is None else _CONVERTER.sub(r"{\1}", rule.rule)


def start_request() -> Response | None:
    """Bind a request id, then refuse non-JSON (415) or broken JSON (400) bodies.

    Runs after routing: unknown routes and wrong methods are left to their 404/405.
    """
    g.started_at = time.perf_counter()
    g.request_id = request_id_from(request.headers.get("X-Request-ID"))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=g.request_id)
    if request.method in BODY_METHODS and request.routing_exception is None:
        require_json(request.headers.get("Content-Type"))
        # Parse once here (Werkzeug caches it): invalid JSON raises BadRequest (400),
        # and a body that is not an object fails like FastAPI's (422).
        if not isinstance(request.get_json(), dict):
            abort(problem_response(not_an_object_problem()))
    return None


def finish_request(response: Response, metrics: HttpMetrics) -> Response:
    """Add the request id and nosniff headers; record metrics; log one access event."""
    request_id = g.get("request_id") or request_id_from(None)
    response.headers["X-Request-ID"] = request_id
    response.headers["X-Content-Type-Options"] = "nosniff"
    seconds = time.perf_counter() - g.get("started_at", time.perf_counter())
    if request.path != METRICS_PATH:
        metrics.observe(request.method, route_template(), response.status_code, seconds)
    access_log.info(
        "request",
        method=request.method,
        path=request.path,
        status=response.status_code,
        duration_ms=round(seconds * 1000, 3),
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


def init_app(app: Flask, metrics: HttpMetrics) -> None:
    """Install the hooks on `app`, recording into `metrics`."""
    app.before_request(start_request)
    app.after_request(lambda response: finish_request(response, metrics))
