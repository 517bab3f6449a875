"""Idempotency-Key records: key parsing, request fingerprints and the retry decision."""

from datetime import UTC, datetime, timedelta

import pytest

from {{ cookiecutter.package_name }}.errors import (
    DuplicateItemError,
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
)
from {{ cookiecutter.package_name }}.idempotency import (
    fingerprint,
    new_record,
    next_step,
    parse_key,
    replay,
    take_over_filter,
)
from tests.builders import item_body

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


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
    body = item_body()
    assert fingerprint(body) == fingerprint(dict(reversed(list(body.items()))))
    assert fingerprint(body) != fingerprint({**body, "tags": [*body["tags"], "more"]})
    assert len(fingerprint(body)) == 64


def test_new_record_holds_a_lease_and_expires_after_the_retention() -> None:
    record = new_record("items", "k", "f", NOW, lease_ms=15_000, retention_s=86_400)
    assert record["_id"] == {"scope": "items", "key": "k"}
    assert record["state"] == "in_flight"
    assert record["lease_until"] == NOW + timedelta(seconds=15)
    assert record["expires_at"] == NOW + timedelta(days=1)
    other = new_record("items", "k", "f", NOW, lease_ms=15_000, retention_s=86_400)
    assert other["item_id"] != record["item_id"]


def in_flight(lease_left_s: float) -> dict[str, object]:
    """Return a key record whose lease ends `lease_left_s` seconds after NOW."""
    record = new_record("items", "k", "f", NOW, lease_ms=0, retention_s=60)
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


def test_replay_returns_the_item_or_raises_the_duplicate_again() -> None:
    item = {
        "_id": new_record("items", "k", "f", NOW, lease_ms=0, retention_s=1)["item_id"],
        "name": "n",
        "description": None,
        "tags": [],
        "created_at": NOW,
        "updated_at": NOW,
        "version": 1,
    }
    assert replay({"outcome": "created", "item": item}).name == "n"
    with pytest.raises(DuplicateItemError):
        replay({"outcome": "duplicate", "name": "n"})
