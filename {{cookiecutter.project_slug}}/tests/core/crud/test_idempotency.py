"""Idempotency-Key records: key parsing, request fingerprints and the retry decision."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from {{ cookiecutter.package_name }}.core.crud.idempotency import (
    document_id,
    duplicate_outcome,
    fingerprint,
    new_record,
    next_step,
    parse_key,
    replay,
    take_over_filter,
)
from {{ cookiecutter.package_name }}.core.errors import (
    DuplicateError,
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# Key records are resource-agnostic: any collection name is a scope.
SCOPE = "things"


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"8e03978e-40d5-43e8-bc93-6894a57f9324"', "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"a key, with spaces"', "a key, with spaces"),
        (r'"say \"hi\" \\ bye"', 'say "hi" \\ bye'),
        (None, None),
    ],
)
def test_parse_key_unquotes_sf_strings_and_keeps_tokens(value: str | None, key: str | None) -> None:
    assert parse_key(value) == key


def test_fingerprint_ignores_key_order_and_changes_with_any_value() -> None:
    body: dict[str, Any] = {"name": "lamp", "description": None, "tags": ["a"]}
    assert fingerprint(body) == fingerprint(dict(reversed(list(body.items()))))
    assert fingerprint(body) != fingerprint({**body, "tags": [*body["tags"], "more"]})
    assert len(fingerprint(body)) == 64


def test_new_record_holds_a_lease_and_expires_after_the_retention() -> None:
    record = new_record(SCOPE, "k", "f", NOW, lease_ms=15_000, retention_s=86_400)
    assert record["_id"] == {"scope": SCOPE, "key": "k"}
    assert record["state"] == "in_flight"
    assert record["lease_until"] == NOW + timedelta(seconds=15)
    assert record["expires_at"] == NOW + timedelta(days=1)
    other = new_record(SCOPE, "k", "f", NOW, lease_ms=15_000, retention_s=86_400)
    assert other["document_id"] != record["document_id"]


def in_flight(lease_left_s: float) -> dict[str, object]:
    """Return a key record whose lease ends `lease_left_s` seconds after NOW."""
    record = new_record(SCOPE, "k", "f", NOW, lease_ms=0, retention_s=60)
    record["lease_until"] = NOW + timedelta(seconds=lease_left_s)
    return record


def test_another_body_is_refused_before_anything_else() -> None:
    with pytest.raises(IdempotencyKeyReusedError):
        next_step(in_flight(10), "another fingerprint", NOW)


def test_a_live_lease_is_in_flight_with_the_seconds_left() -> None:
    with pytest.raises(IdempotencyKeyInFlightError) as raised:
        next_step(in_flight(2.2), "f", NOW)
    assert raised.value.retry_after_s == 3


def test_an_expired_lease_is_taken_over_and_a_finished_record_replayed() -> None:
    assert next_step(in_flight(-1), "f", NOW) == "take_over"
    assert next_step({**in_flight(10), "state": "done"}, "f", NOW) == "replay"


def test_take_over_matches_only_the_lease_it_saw() -> None:
    record = in_flight(-1)
    assert take_over_filter(record)["lease_until"] == record["lease_until"]
    assert take_over_filter(record)["state"] == "in_flight"


def test_replay_returns_the_stored_document_or_raises_the_duplicate_again() -> None:
    document = {"_id": new_record(SCOPE, "k", "f", NOW, lease_ms=0, retention_s=1)["document_id"]}
    assert replay({"outcome": "created", "document": document}) == document
    outcome = duplicate_outcome("apple_tree", "name", "n")["$set"]
    with pytest.raises(DuplicateError, match=r"^An apple tree named 'n' already exists\.$"):
        replay(outcome)
    other = duplicate_outcome("apple_tree", "sku", 7)["$set"]
    with pytest.raises(DuplicateError, match=r"^An apple tree with sku 7 already exists\.$"):
        replay(other)


def test_a_duplicate_recorded_before_unique_fields_were_generic_still_replays() -> None:
    """Duplicate outcomes written before fields other than `name` could be unique."""
    old = {"outcome": "duplicate", "resource": "apple_tree", "name": "n"}
    with pytest.raises(DuplicateError, match=r"^An apple tree named 'n' already exists\.$"):
        replay(old)


def test_a_record_from_the_item_only_release_still_replays_after_an_upgrade() -> None:
    """Records written before keys were resource-agnostic live one retention period."""
    stored = {"_id": ObjectId(), "name": "lamp"}
    created = {"outcome": "created", "item_id": stored["_id"], "item": stored}
    assert document_id(created) == stored["_id"]
    assert replay(created) == stored
    with pytest.raises(DuplicateError, match=r"^An item named 'n' already exists\.$"):
        replay({"outcome": "duplicate", "name": "n"})
