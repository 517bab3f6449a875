"""RFC 9457 problem details: the body of every error response, for both frameworks.

A handler turns an exception into `(status, body)` with `problem_for_exception`, or a
validation failure with `validation_problem`; the framework layer only writes it out.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from pymongo.errors import ConnectionFailure, PyMongoError

from . import errors

PROBLEM_MEDIA_TYPE = "application/problem+json"

# Reason phrases of RFC 9110, fixed here because `http.HTTPStatus` phrases differ
# between Python versions (422 and 413 were renamed in 3.13).
TITLES: dict[int, str] = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

STATUS_BY_ERROR: dict[type[errors.ServiceError], int] = {
    errors.ItemNotFoundError: 404,
    errors.DuplicateItemError: 409,
    errors.PreconditionFailedError: 412,
    errors.IdempotencyKeyReusedError: 422,
    errors.IdempotencyKeyInFlightError: 409,
    errors.MalformedHeaderError: 400,
    errors.UnsupportedMediaTypeError: 415,
    errors.ContentTooLargeError: 413,
}

DATABASE_UNAVAILABLE = "The database is unavailable or too slow; retry later."
INTERNAL_ERROR = "An unexpected error occurred; it has been logged with this request's id."


def problem(
    status: int, detail: str | None = None, *, instance: str | None = None, **extensions: Any
) -> dict[str, Any]:
    """Return a problem details object for `status` (RFC 9457 section 3).

    Args:
        status: HTTP status code; its title comes from `TITLES` (RFC 9110 phrases).
        detail: A human-readable explanation of this occurrence.
        instance: The request path the problem occurred on.
        **extensions: Extension members, e.g. `errors` for validation failures.
    """
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body.update(extensions)
    return body


def problem_for_exception(exc: BaseException, instance: str) -> dict[str, Any]:
    """Map a domain or driver exception to a problem body; anything else is a 500.

    `ServiceError` subclasses map through `STATUS_BY_ERROR`; a MongoDB connection
    failure or timeout (server selection, network, `timeoutMS`) is a 503. The body
    never holds a stack trace or a driver message (they can name hosts).
    """
    if isinstance(exc, errors.IdempotencyKeyReusedError):
        # A 422 names what failed in `errors`, as every other 422 of the API does.
        issue = {"loc": ["header", "Idempotency-Key"], "msg": str(exc), "type": "key_reused"}
        return problem(422, str(exc), instance=instance, errors=[issue])
    for error_type, status in STATUS_BY_ERROR.items():
        if isinstance(exc, error_type):
            return problem(status, str(exc), instance=instance)
    if is_database_unavailable(exc):
        return problem(503, DATABASE_UNAVAILABLE, instance=instance)
    return problem(500, INTERNAL_ERROR, instance=instance)


def problem_headers(exc: BaseException) -> dict[str, str]:
    """Return the response headers a problem needs besides its body.

    A 409 for a key still in flight says when to retry (`Retry-After`, RFC 9110
    section 10.2.3), which also tells it apart from the final 409 of a duplicate name.
    """
    if isinstance(exc, errors.IdempotencyKeyInFlightError):
        return {"Retry-After": str(exc.retry_after_s)}
    return {}


def is_database_unavailable(exc: BaseException) -> bool:
    """Return True for driver errors that mean "MongoDB is down or too slow"."""
    return isinstance(exc, ConnectionFailure) or (isinstance(exc, PyMongoError) and exc.timeout)


def not_ready_problem(check: str, exc: BaseException, instance: str) -> dict[str, Any]:
    """Return the 503 problem of a failed readiness check, naming the check.

    Only the exception's class name is shown: its message can name hosts.
    """
    return problem(
        503,
        f"Check {check} failed: {type(exc).__name__}.",
        instance=instance,
        checks={check: "fail"},
    )


def validation_problem(issues: Iterable[Mapping[str, Any]], instance: str) -> dict[str, Any]:
    """Return a 422 problem listing pydantic validation errors, or a 400 for broken JSON.

    Args:
        issues: pydantic/FastAPI error dicts (`loc`, `msg`, `type`, ...). Only `loc`,
            `msg` and `type` are kept: echoing `input` could reflect secrets or
            megabytes back to the client.
        instance: The request path.
    """
    kept = [
        {"loc": list(issue["loc"]), "msg": str(issue["msg"]), "type": str(issue["type"])}
        for issue in issues
    ]
    if any(issue["type"] == "json_invalid" for issue in kept):
        return problem(400, "The request body is not valid JSON.", instance=instance)
    return problem(422, "The request failed validation.", instance=instance, errors=kept)


def is_json_media_type(content_type: str | None) -> bool:
    """Return True for `application/json` and `application/*+json`, with any parameters."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def require_json(content_type: str | None) -> None:
    """Check that a request body is JSON.

    Raises:
        UnsupportedMediaTypeError: the Content-Type is missing or not JSON (415).
    """
    if not is_json_media_type(content_type):
        raise errors.UnsupportedMediaTypeError(
            "The request body must be JSON (Content-Type: application/json)."
        )
