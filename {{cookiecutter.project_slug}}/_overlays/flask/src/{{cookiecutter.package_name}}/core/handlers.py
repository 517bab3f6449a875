"""Error handlers: every error leaves the app as RFC 9457 problem+json, and OpenAPI says so."""

import json
from typing import Any, NoReturn

import structlog
from flask import Flask, Response, abort, current_app, request
from flask_openapi.types import ResponseDict
from pydantic import BaseModel, ValidationError
from pymongo.errors import PyMongoError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .errors import ServiceError, UnreadableDocumentError
from .metrics import HttpMetrics
from .problems import (
    INTERNAL_ERROR,
    PROBLEM_MEDIA_TYPE,
    TITLES,
    is_database_unavailable,
    problem,
    problem_for_exception,
    problem_headers,
    validation_problem,
)

log = structlog.get_logger(__name__)

# Where a request model sits, by the end of its class name, for FastAPI-style error
# locations ("body", "name"): `ItemPath`, `ItemListQuery`, `IfMatchHeader`; else a body.
_LOCATION_BY_SUFFIX = {"Path": "path", "Query": "query", "Header": "header"}


def model_location(model_name: str) -> str:
    """Return where the request model named `model_name` sits: path, query, header or body."""
    for suffix, location in _LOCATION_BY_SUFFIX.items():
        if model_name.endswith(suffix):
            return location
    return "body"


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """Return `body` as an `application/problem+json` response with its status."""
    return Response(
        json.dumps(body, separators=(",", ":")),
        body["status"],
        headers,
        mimetype=PROBLEM_MEDIA_TYPE,
    )


def json_response(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Return `model` serialised as JSON with `status` and `headers`."""
    return Response(model.model_dump_json(), status, headers, mimetype="application/json")


def problem_responses(*statuses: int) -> ResponseDict:
    """Describe problem+json error responses for the OpenAPI document."""
    return {
        code: {
            "description": TITLES[code],
            "content": {
                "application/problem+json": {
                    "schema": {
                        "$ref": "#/components/schemas/"
                        + ("ValidationProblem" if code == 422 else "Problem")
                    }
                }
            },
        }
        for code in statuses
    }


def validation_failed(exc: ValidationError, location: str) -> NoReturn:
    """Abort the request with the 422 problem for `exc`, its errors located at `location`.

    `location` (`path`, `query`, `header`, `body`) starts each error's `loc`, as in FastAPI.
    """
    issues = [{**issue, "loc": (location, *issue["loc"])} for issue in exc.errors()]
    abort(problem_response(validation_problem(issues, request.path)))


def handle_validation_error(exc: ValidationError) -> Response:
    """Render request validation failures as a 422 problem (flask-openapi's callback)."""
    location = model_location(exc.title)
    issues = [{**issue, "loc": (location, *issue["loc"])} for issue in exc.errors()]
    return problem_response(validation_problem(issues, request.path))


def handle_http_exception(exc: HTTPException) -> Response:
    """Render Werkzeug's errors (404, 405, 400 bad JSON, 413) as problems."""
    if exc.response is not None:  # abort(response): already a problem response
        return exc.response  # type: ignore[return-value]
    status = exc.code or 500
    headers: dict[str, str] = {}
    detail: str | None
    if status == 404:
        detail = f"No route matches {request.path}."
    elif isinstance(exc, MethodNotAllowed):
        methods = set(exc.valid_methods or ()) - {"OPTIONS"}
        headers["Allow"] = ", ".join(sorted(methods))
        detail = f"{request.method} is not allowed on {request.path}."
    elif status == 400:
        detail = "The request body is not valid JSON."
    elif status == 413:
        detail = f"The request body exceeds {request.max_content_length} bytes."
    else:
        detail = exc.description
    return problem_response(problem(status, detail, instance=request.path), headers)


def handle_service_error(exc: ServiceError) -> Response:
    """Render domain errors (404, 409, 412, 413, 415, 400, 422) by `problems.STATUS_BY_ERROR`."""
    return problem_response(problem_for_exception(exc, request.path), problem_headers(exc))


def handle_unreadable_document(exc: UnreadableDocumentError) -> Response:
    """Log and count stored documents that fail the read model; answer 500 naming them."""
    log.error(
        "unreadable document", resource=exc.resource, ids=exc.ids, failing_fields=exc.failures
    )
    metrics: HttpMetrics = current_app.extensions["metrics"]
    metrics.count_unreadable(exc.resource, len(exc.failures))
    return problem_response(problem_for_exception(exc, request.path))


def handle_database_error(exc: PyMongoError) -> Response:
    """Render "the database cannot serve" (down, too slow, refusing us) as 503; else 500."""
    if not is_database_unavailable(exc):
        return handle_unexpected_error(exc)
    log.warning("database unavailable", error=type(exc).__name__, code=getattr(exc, "code", None))
    return problem_response(problem_for_exception(exc, request.path))


def handle_unexpected_error(exc: Exception) -> Response:
    """Log the exception with the request id; answer 500 with no internals."""
    log.exception("unhandled exception", path=request.path)
    return problem_response(problem(500, INTERNAL_ERROR, instance=request.path))


def register_error_handlers(app: Flask) -> None:
    """Install the handlers for every error class the service can meet."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(UnreadableDocumentError, handle_unreadable_document)
    app.register_error_handler(PyMongoError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected_error)
