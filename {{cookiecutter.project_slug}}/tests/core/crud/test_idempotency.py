"""Idempotency-Key records: key parsing, request fingerprints and the retry decision."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from {{ cookiecutter.package_name }}.core.crud.idempotency import (
    QUICK_RETRY_S,
    document_id,
    duplicate_outcome,
    fingerprint,
    new_record,
    next_step,
    one_key,
    parse_key,
    record_id,
    refuse_several,
    replace_filter,
    replay,
    retry_after,
    take_over_filter,
)
from {{ cookiecutter.package_name }}.core.errors import (
    DuplicateError,
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
    MalformedHeaderError,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# Key records are resource-agnostic: any collection name is a scope.
SCOPE = "things"
LEASE_MS = 15_000  # 3 x the default MONGO_TIMEOUT_MS


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


@pytest.mark.parametrize(
    "value", ['"one", "two"', "one,two", 'one, "two"', '"a, b","c"', "a , b ,\tc"]
)
def test_a_list_of_keys_is_refused_as_several_keys(value: str) -> None:
    """Several header lines reach a WSGI app joined by commas (RFC 9110 section 5.3)."""
    with pytest.raises(MalformedHeaderError, match="one Idempotency-Key"):
        one_key(value)


@pytest.mark.parametrize("value", ['"a, b"', "a", '"a,b"', "", None, "a b", '"a",'])
def test_one_key_passes_anything_else_on_to_the_pattern_check(value: str | None) -> None:
    assert one_key(value) == value


def test_more_than_one_key_header_line_is_refused() -> None:
    refuse_several([])
    refuse_several(["a"])
    with pytest.raises(MalformedHeaderError, match="one Idempotency-Key"):
        refuse_several(["a", "a"])


def test_keys_are_scoped_per_caller_and_shared_without_one() -> None:
    """IETF draft, Security Considerations: the lookup key adds who the client is."""
    first, second = record_id(SCOPE, "k", "api_key:a"), record_id(SCOPE, "k", "api_key:b")
    assert first != second
    assert first == {"scope": SCOPE, "caller": "api_key:a", "key": "k"}
    # Without a caller (auth none): the shape records had before keys were scoped.
    assert record_id(SCOPE, "k") == {"scope": SCOPE, "key": "k"}
    record = new_record(SCOPE, "k", "f", NOW, caller="api_key:a", lease_ms=1, retention_s=60)
    assert record["_id"] == first


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


def test_another_body_is_refused_while_the_record_is_kept() -> None:
    with pytest.raises(IdempotencyKeyReusedError):
        next_step(in_flight(10), "another fingerprint", NOW, lease_ms=LEASE_MS)


@pytest.mark.parametrize(
    ("claimed_s_ago", "retry_after_s"),
    [(0, QUICK_RETRY_S), (0.02, QUICK_RETRY_S), (4.9, QUICK_RETRY_S), (5.5, 10), (14.2, 1)],
)
def test_retry_after_is_one_second_while_the_holder_may_answer_then_the_lease_left(
    claimed_s_ago: float, retry_after_s: int
) -> None:
    """The holder has one MONGO_TIMEOUT_MS (5 s of a 15 s lease) to answer; then it is dead."""
    record = in_flight(LEASE_MS / 1000 - claimed_s_ago)
    assert retry_after(record, NOW, LEASE_MS) == retry_after_s
    with pytest.raises(IdempotencyKeyInFlightError) as raised:
        next_step(record, "f", NOW, lease_ms=LEASE_MS)
    assert raised.value.retry_after_s == retry_after_s


def test_an_expired_lease_is_taken_over_and_a_finished_record_replayed() -> None:
    assert next_step(in_flight(-1), "f", NOW, lease_ms=LEASE_MS) == "take_over"
    assert next_step({**in_flight(10), "state": "done"}, "f", NOW, lease_ms=LEASE_MS) == "replay"


@pytest.mark.parametrize("state", ["done", "in_flight"])
@pytest.mark.parametrize("digest", ["f", "another fingerprint"])
def test_a_record_past_its_retention_is_replaced_whatever_it_holds(state: str, digest: str) -> None:
    """MongoDB's TTL monitor deletes it within a minute; until then it counts as absent."""
    record = {**in_flight(10), "state": state, "expires_at": NOW}
    assert next_step(record, digest, NOW, lease_ms=LEASE_MS) == "replace"
    assert next_step(record, digest, NOW + timedelta(days=1), lease_ms=LEASE_MS) == "replace"
    assert replace_filter(record) == {"_id": record["_id"], "expires_at": NOW}


def test_a_finished_record_is_replayed_until_its_retention_ends() -> None:
    record = {**in_flight(10), "state": "done", "expires_at": NOW + timedelta(milliseconds=1)}
    assert next_step(record, "f", NOW, lease_ms=LEASE_MS) == "replay"


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
