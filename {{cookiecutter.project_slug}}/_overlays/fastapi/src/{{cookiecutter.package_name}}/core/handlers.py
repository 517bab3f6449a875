"""Exception handlers: every error leaves the app as RFC 9457 problem+json, and OpenAPI says so."""

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import ServiceError, UnreadableDocumentError, UnsupportedMediaTypeError
from .metrics import HttpMetrics
from .problems import (
    PROBLEM_MEDIA_TYPE,
    TITLES,
    is_database_unavailable,
    problem,
    problem_for_exception,
    problem_headers,
    require_json,
    validation_problem,
)
from .schemas import Problem, ValidationProblem

log = structlog.get_logger(__name__)


def problem_response(
    body: dict[str, object], headers: dict[str, str] | None = None
) -> JSONResponse:
    """Return `body` as an `application/problem+json` response with its status."""
    status = body["status"]
    assert isinstance(status, int)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Describe error responses for OpenAPI (served as problem+json, see `app.openapi`)."""
    return {
        code: {"description": TITLES[code], "model": ValidationProblem if code == 422 else Problem}
        for code in statuses
    }


def allowed_methods(request: Request) -> list[str]:
    """Return every method served on the request's path template (RFC 9110 `Allow`).

    Starlette's own 405 lists only the first matching route's methods; the OpenAPI
    document (built once, then cached) lists them all for the template.
    """
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    methods = {method.upper() for method in request.app.openapi()["paths"].get(template, {})}
    methods.update(getattr(route, "methods", None) or ())
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    """Render router errors (unknown route 404, wrong method 405) and HTTPExceptions."""
    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        detail = f"No route matches {path}."
    elif exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
        detail = f"{request.method} is not allowed on {path}."
    else:
        detail = str(exc.detail)
    return problem_response(problem(exc.status_code, detail, instance=path), headers)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Render request validation failures: 415 for a body that is not JSON, 422 with
    `errors`, or 400 for broken JSON.

    FastAPI parses a body as JSON only when its Content-Type says so; any other body is
    bytes, which no body schema accepts, so it always ends here. The media type is
    checked here, on failure only, rather than by a dependency of every write route:
    FastAPI solves dependencies on every request (about 80k instructions each, measured
    with bench/). Dependencies (the access guard) run first, so a caller without
    credentials still gets 401, not 415.
    """
    assert isinstance(exc, RequestValidationError)
    route = request.scope.get("route")
    if getattr(route, "body_field", None) is not None:
        try:
            require_json(request.headers.get("content-type"))
        except UnsupportedMediaTypeError as unsupported:
            return problem_response(problem_for_exception(unsupported, request.url.path))
    return problem_response(validation_problem(exc.errors(), request.url.path))


async def handle_service_error(request: Request, exc: Exception) -> JSONResponse:
    """Render domain errors (404, 409, 412, 413, 415, 400, 422) by `problems.STATUS_BY_ERROR`."""
    return problem_response(problem_for_exception(exc, request.url.path), problem_headers(exc))


async def handle_unreadable_document(request: Request, exc: Exception) -> JSONResponse:
    """Log and count stored documents that fail the read model; answer 500 naming them."""
    assert isinstance(exc, UnreadableDocumentError)
    log.error(
        "unreadable document", resource=exc.resource, ids=exc.ids, failing_fields=exc.failures
    )
    metrics: HttpMetrics = request.app.state.metrics
    metrics.count_unreadable(exc.resource, len(exc.failures))
    return problem_response(problem_for_exception(exc, request.url.path))


async def handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    """Render "the database cannot serve" (down, too slow, refusing us) as 503; else 500."""
    if not is_database_unavailable(exc):
        raise exc
    log.warning("database unavailable", error=type(exc).__name__, code=getattr(exc, "code", None))
    return problem_response(problem_for_exception(exc, request.url.path))


def register_error_handlers(app: FastAPI) -> None:
    """Install the handlers; anything else is caught by `RequestContextMiddleware` (500)."""
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(ServiceError, handle_service_error)
    app.add_exception_handler(UnreadableDocumentError, handle_unreadable_document)
    app.add_exception_handler(PyMongoError, handle_database_error)
