"""RFC 9457 problem details: the body of every error response, for both frameworks.

A handler turns an exception into `(status, body)` with `problem_for_exception`, or a
validation failure with `validation_problem`; the framework layer only writes it out.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from pymongo.errors import (
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from . import errors
from .timeouts import AUTHENTICATION_FAILED, UNAUTHORIZED

PROBLEM_MEDIA_TYPE = "application/problem+json"

# Reason phrases of RFC 9110, fixed here because `http.HTTPStatus` phrases differ
# between Python versions (422 and 413 were renamed in 3.13).
TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

STATUS_BY_ERROR: dict[type[errors.ServiceError], int] = {
    errors.NotFoundError: 404,
    errors.DuplicateError: 409,
    errors.PreconditionFailedError: 412,
    errors.IdempotencyKeyReusedError: 422,
    errors.IdempotencyKeyInFlightError: 409,
    errors.MalformedHeaderError: 400,
    errors.UnsupportedMediaTypeError: 415,
    errors.ContentTooLargeError: 413,
    errors.InvalidCursorError: 400,
    errors.UnreadableDocumentError: 500,
}

UNREADABLE_DOCUMENT_TYPE = "/problems/unreadable-document"
"""Problem type of a stored document that fails the read model (a URI reference)."""
UNREADABLE_DOCUMENT_TITLE = "Stored document cannot be read"

# Why MongoDB cannot serve a request: the detail of its 503, without driver text
# (a driver message can name hosts or users).
DATABASE_UNREACHABLE = "The database cannot be reached; retry later."
DATABASE_TOO_SLOW = "The database did not answer within the operation timeout; retry later."
DATABASE_UNAUTHENTICATED = (
    "The database refused the service's credentials (authentication failed); "
    "the operator must fix the MongoDB user or password."
)
DATABASE_UNAUTHORIZED = (
    "The database user may not run this operation (not authorized); "
    "the operator must grant it the missing role."
)
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

    `ServiceError` subclasses map through `STATUS_BY_ERROR`; a database that cannot
    serve the request is a 503 saying why (`database_unavailable_detail`). The body
    never holds a stack trace or a driver message (they can name hosts).
    """
    if isinstance(exc, errors.IdempotencyKeyReusedError):
        # A 422 names what failed in `errors`, as every other 422 of the API does.
        issue = {"loc": ["header", "Idempotency-Key"], "msg": str(exc), "type": "key_reused"}
        return problem(422, str(exc), instance=instance, errors=[issue])
    if isinstance(exc, errors.UnreadableDocumentError):
        # Names the documents (their ids are no secret) but not the failing fields:
        # those are in the log, for the operator.
        body = problem(500, str(exc), instance=instance, resource=exc.resource, ids=exc.ids)
        return {**body, "type": UNREADABLE_DOCUMENT_TYPE, "title": UNREADABLE_DOCUMENT_TITLE}
    for error_type, status in STATUS_BY_ERROR.items():
        if isinstance(exc, error_type):
            return problem(status, str(exc), instance=instance)
    detail = database_unavailable_detail(exc)
    if detail is not None:
        return problem(503, detail, instance=instance)
    return problem(500, INTERNAL_ERROR, instance=instance)


def database_unavailable_detail(exc: BaseException) -> str | None:
    """Return why MongoDB cannot serve the request, or None when `exc` means anything else.

    Unreachable (no server found, connection lost), too slow (`timeoutMS` or a network
    timeout), unauthenticated (code 18, AuthenticationFailed) or unauthorized (code 13,
    Unauthorized): each is a 503, the service's fault or the database's, never the
    client's.
    """
    if isinstance(exc, OperationFailure) and exc.code == AUTHENTICATION_FAILED:
        return DATABASE_UNAUTHENTICATED
    if isinstance(exc, OperationFailure) and exc.code == UNAUTHORIZED:
        return DATABASE_UNAUTHORIZED
    if isinstance(exc, ServerSelectionTimeoutError) or (
        isinstance(exc, ConnectionFailure) and not exc.timeout
    ):
        return DATABASE_UNREACHABLE
    if isinstance(exc, PyMongoError) and exc.timeout:
        return DATABASE_TOO_SLOW
    return None


def problem_headers(exc: BaseException) -> dict[str, str]:
    """Return the response headers a problem needs besides its body.

    A 409 for a key still in flight says when to retry (`Retry-After`, RFC 9110
    section 10.2.3), which also tells it apart from the final 409 of a duplicate name.
    """
    if isinstance(exc, errors.IdempotencyKeyInFlightError):
        return {"Retry-After": str(exc.retry_after_s)}
    return {}


def is_database_unavailable(exc: BaseException) -> bool:
    """Return True for driver errors that mean "MongoDB cannot serve this request"."""
    return database_unavailable_detail(exc) is not None


def not_ready_problem(check: str, exc: BaseException, instance: str) -> dict[str, Any]:
    """Return the 503 problem of a failed readiness check, naming the check and why.

    The reason is `database_unavailable_detail`'s, else the exception's class name:
    its message can name hosts.
    """
    reason = database_unavailable_detail(exc) or f"{type(exc).__name__}."
    return problem(
        503,
        f"Check {check} failed: {reason}",
        instance=instance,
        checks={check: "fail"},
    )


def migrations_pending_problem(states: Mapping[str, str], instance: str) -> dict[str, Any]:
    """Return the 503 problem of a readiness check that found migrations not done.

    Args:
        states: {id: state} of each migration not done: "pending", "running" (in
            progress, or its runner died), "failed" or "changed" (edited after it ran).
        instance: The request path.

    The body names each one with its state, in `detail` and in `migrations`.
    """
    return problem(
        503,
        f"Migrations not applied: {_named(states)}. "
        "`python -m {{ cookiecutter.package_name }}.core.migrations status` says more; "
        "`upgrade` (make migrate) applies them.",
        instance=instance,
        checks={"migrations": "fail"},
        migrations=dict(states),
    )


def migrations_waiting_problem(states: Mapping[str, str], instance: str) -> dict[str, Any]:
    """Return the 503 problem of a resource request held back while migrations are not done.

    `states` as for `migrations_pending_problem`; the response carries `Retry-After`.
    """
    return problem(
        503,
        f"The service waits for its database migrations ({_named(states)}); retry later.",
        instance=instance,
        migrations=dict(states),
    )


def _named(states: Mapping[str, str]) -> str:
    """Return "0002_create_items (running), ..." for {id: state}."""
    return ", ".join(f"{id_} ({state})" for id_, state in states.items())


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
