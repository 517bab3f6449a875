"""Problem details bodies (RFC 9457) and the error-to-status mapping."""

from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from {{ cookiecutter.package_name }}.core.errors import (
    DuplicateError,
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
    NotFoundError,
    PreconditionFailedError,
)
from {{ cookiecutter.package_name }}.core.problems import (
    DATABASE_TOO_SLOW,
    DATABASE_UNREACHABLE,
    is_json_media_type,
    problem_for_exception,
    problem_headers,
    validation_problem,
)


def test_domain_errors_map_to_their_status() -> None:
    assert problem_for_exception(NotFoundError("shelf", "x"), "/p")["status"] == 404
    assert problem_for_exception(DuplicateError("shelf", "x"), "/p")["status"] == 409
    assert problem_for_exception(PreconditionFailedError("shelf", "x"), "/p")["status"] == 412


def test_domain_errors_name_the_resource_in_prose_with_its_article() -> None:
    assert str(NotFoundError("apple_tree", "42")) == "Apple tree 42 does not exist."
    assert str(DuplicateError("apple_tree", "x")) == "An apple tree named 'x' already exists."
    assert str(DuplicateError("shelf", "x")) == "A shelf named 'x' already exists."
    assert str(PreconditionFailedError("shelf", "42")) == (
        "Shelf 42 has changed: its ETag matches no If-Match value. Fetch it again and retry."
    )


def test_reused_idempotency_key_is_422_naming_the_header() -> None:
    body = problem_for_exception(IdempotencyKeyReusedError(), "/p")
    assert body["status"] == 422
    assert [issue["loc"] for issue in body["errors"]] == [["header", "Idempotency-Key"]]
    assert problem_headers(IdempotencyKeyReusedError()) == {}


def test_idempotency_key_in_flight_is_409_with_retry_after() -> None:
    error = IdempotencyKeyInFlightError(retry_after_s=7)
    assert problem_for_exception(error, "/p")["status"] == 409
    assert problem_headers(error) == {"Retry-After": "7"}


def test_database_unavailable_is_503_without_driver_text() -> None:
    body = problem_for_exception(ServerSelectionTimeoutError("db.internal:27017"), "/p")
    assert body["status"] == 503
    assert "db.internal" not in str(body)


def test_other_errors_are_500_without_their_message() -> None:
    body = problem_for_exception(DuplicateKeyError("index secret"), "/p")
    assert body["status"] == 500
    assert "secret" not in str(body)


def test_validation_problem_keeps_only_loc_msg_type() -> None:
    body = validation_problem(
        [{"loc": ("body", "name"), "msg": "bad", "type": "string_type", "input": "password"}], "/p"
    )
    assert body["status"] == 422
    assert body["errors"] == [{"loc": ["body", "name"], "msg": "bad", "type": "string_type"}]


def test_broken_json_is_400() -> None:
    body = validation_problem([{"loc": ("body", 1), "msg": "x", "type": "json_invalid"}], "/p")
    assert body["status"] == 400


def test_json_media_types() -> None:
    assert is_json_media_type("application/json; charset=utf-8")
    assert is_json_media_type("application/merge-patch+json")
    assert not is_json_media_type("text/plain")
    assert not is_json_media_type(None)


def test_refused_credentials_and_privileges_are_503_saying_which() -> None:
    # Codes as MongoDB sends them (error_codes.yml): 18 AuthenticationFailed, 13 Unauthorized.
    # SecantusDB 0.7 enforces no roles, so code 13 is built here rather than provoked.
    failed = OperationFailure("authentication failed", 18, {"ok": 0, "code": 18})
    unauthorized = OperationFailure("not authorized on db", 13, {"ok": 0, "code": 13})
    assert problem_for_exception(failed, "/p")["status"] == 503
    assert "authentication failed" in problem_for_exception(failed, "/p")["detail"]
    assert problem_for_exception(unauthorized, "/p")["status"] == 503
    assert "not authorized" in problem_for_exception(unauthorized, "/p")["detail"]
    assert "on db" not in str(problem_for_exception(unauthorized, "/p"))


def test_unreachable_and_too_slow_databases_are_503_saying_which() -> None:
    unreachable = problem_for_exception(ServerSelectionTimeoutError("db:27017"), "/p")
    lost = problem_for_exception(AutoReconnect("db:27017 reset"), "/p")
    slow = problem_for_exception(NetworkTimeout("db:27017 timed out"), "/p")
    assert unreachable["detail"] == lost["detail"] == DATABASE_UNREACHABLE
    assert slow["status"] == 503
    assert slow["detail"] == DATABASE_TOO_SLOW


def test_other_operation_failures_stay_500() -> None:
    assert problem_for_exception(OperationFailure("bad", 2), "/p")["status"] == 500
