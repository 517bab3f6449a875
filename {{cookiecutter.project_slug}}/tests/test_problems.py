"""Problem details bodies (RFC 9457) and the error-to-status mapping."""

from pymongo.errors import DuplicateKeyError, ServerSelectionTimeoutError

from {{ cookiecutter.package_name }}.errors import (
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
    ItemNotFoundError,
    PreconditionFailedError,
)
from {{ cookiecutter.package_name }}.problems import (
    is_json_media_type,
    problem_for_exception,
    problem_headers,
    validation_problem,
)


def test_domain_errors_map_to_their_status() -> None:
    assert problem_for_exception(ItemNotFoundError("x"), "/p")["status"] == 404
    assert problem_for_exception(PreconditionFailedError("x"), "/p")["status"] == 412


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
