"""Safe POST retries with the `Idempotency-Key` request header: keys, fingerprints, records.

Follows the IETF httpapi draft "The Idempotency-Key HTTP Header Field"
(draft-ietf-httpapi-idempotency-key-header): the first response to a key is kept and
replayed to a retry with the same key and body; the same key with another body is a
422; a retry while the first request still runs is a 409; a client sends at most one
key per request (section 2.1).

Keys are scoped per caller: the draft's security considerations warn that keys shared
between clients let one client fetch another's stored answers, and recommend building
the lookup key from the client's key plus what only the server knows about the client.
The caller is who the access mode authenticated (`access.Principal.caller`:
the API key's id, or the token's issuer and subject); with no access control (`auth`
none) every request is the same caller and keys are shared.

Pure functions shared by the sync and async repositories. A key record lives in its own
collection (`COLLECTION`), one document per (scope, caller, key):

    {_id: {scope, caller?, key}, fingerprint, document_id, state: "in_flight" | "done",
     lease_until, created_at, expires_at, outcome?, document?, resource?, name?}

The scope is the resource's collection, so every resource's keys share this collection;
`caller` is left out when there is none (so the records of the `none` mode have the
shape they had before keys were scoped). `document_id` is chosen when the key is first
seen, so every attempt for the key inserts the document under the same `_id`: an attempt
that finds it already there knows an earlier one stored it (exactly one document even
when a crash hit between the two writes, no transaction needed). A lease (`lease_until`)
tells a live attempt from an abandoned one. The retention is fixed when the record is
written (`expires_at`), so changing the setting never has to change the index; a TTL
index deletes the record then, but MongoDB's TTL monitor runs only once a minute, so a
record past `expires_at` is treated as absent (`next_step`) until it is gone.

Records written before keys were scoped per caller have no `caller` in their `_id`: the
access mode `none` still finds them (same shape); the modes with callers never do, since
they name no caller and replaying them to anyone is the cross-caller leak this scoping
closes. A retry that straddles the upgrade is then a new request (for a resource with a
unique field, a 409 for the name already taken), and the old record expires on its own.
"""

import hashlib
import json
import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from bson import ObjectId

from ..errors import (
    DuplicateError,
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
    MalformedHeaderError,
)
from ..schemas import IDEMPOTENCY_KEY_PATTERN
from ..settings import LEASE_TIMEOUTS

COLLECTION = "idempotency_keys"

# What `Retry-After` says (seconds) while the request holding the key may still answer.
QUICK_RETRY_S = 1

_ESCAPE = re.compile(r"\\(.)")
# Two keys or more, comma-separated: what a server makes of several header lines (RFC
# 9110 section 5.3; gunicorn joins them so). A comma inside a quoted key is the key's.
_KEY = IDEMPOTENCY_KEY_PATTERN.removeprefix("^").removesuffix("$")
_KEYS = re.compile(rf"{_KEY}(?:[ \t]*,[ \t]*{_KEY})+")
SEVERAL_KEYS = "Send one Idempotency-Key header, not several."

# (keys, options) for create_index on COLLECTION: delete a record at its `expires_at`.
INDEXES: list[tuple[list[tuple[str, int]], dict[str, Any]]] = [
    ([("expires_at", 1)], {"expireAfterSeconds": 0, "name": "expires_at_ttl"}),
]

Step = Literal["replay", "take_over", "replace"]


def parse_key(value: str | None) -> str | None:
    """Return the key a header value names: a bare token as is, a quoted string unescaped.

    `value` matches `schemas.IDEMPOTENCY_KEY_PATTERN` (the request schema checks it);
    None (no header) stays None.
    """
    if value is not None and value.startswith('"'):
        return _ESCAPE.sub(r"\1", value[1:-1])
    return value


def refuse_several(values: Sequence[str]) -> None:
    """Refuse a request that sent the `Idempotency-Key` header field more than once.

    The draft (section 2.1) forbids a client to send more than one `Idempotency-Key`
    field in a request; which one counts would be a guess.

    Args:
        values: Every `Idempotency-Key` field line of the request, as received.

    Raises:
        MalformedHeaderError: more than one line (a 400).
    """
    if len(values) > 1:
        raise MalformedHeaderError(SEVERAL_KEYS)


def one_key(value: object) -> object:
    """Refuse an `Idempotency-Key` value that is a list of keys; pass anything else on.

    Several field lines may reach the application joined into one comma-separated
    value (RFC 9110 section 5.3; gunicorn's WSGI workers join them), so a list of
    keys is several keys. Runs before the value is checked against
    `IDEMPOTENCY_KEY_PATTERN` (a pydantic `BeforeValidator`): pydantic passes this
    error on instead of reporting a 422.

    Raises:
        MalformedHeaderError: `value` is two or more keys separated by commas (a 400).
    """
    if isinstance(value, str) and _KEYS.fullmatch(value) is not None:
        raise MalformedHeaderError(SEVERAL_KEYS)
    return value


def fingerprint(body: dict[str, Any]) -> str:
    """Return the SHA-256 (hex) of the canonical JSON of a validated request body.

    Canonical: keys sorted, no whitespace, defaults filled in by validation, so two
    bodies that mean the same document (e.g. `tags` omitted or `[]`) match.
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record_id(scope: str, key: str, caller: str | None = None) -> dict[str, str]:
    """Return the `_id` of a key record: keys are scoped per resource and per caller.

    Args:
        scope: The resource the key belongs to (its collection name).
        key: The parsed key (`parse_key`).
        caller: Who sent it (`access.Principal.caller`); None when callers are not
            known (`auth` none): then every request shares the key.
    """
    if caller is None:
        return {"scope": scope, "key": key}
    return {"scope": scope, "caller": caller, "key": key}


def new_record(
    scope: str,
    key: str,
    digest: str,
    now: datetime,
    *,
    caller: str | None = None,
    lease_ms: int,
    retention_s: int,
) -> dict[str, Any]:
    """Return the record that claims `key` for a first attempt, with a fresh document id.

    Args:
        scope: The resource the key belongs to (its collection name).
        key: The parsed key (`parse_key`).
        digest: The request's `fingerprint`.
        now: The current UTC time.
        caller: Who sent the key (see `record_id`).
        lease_ms: How long (ms) the attempt may hold the key before a retry may take over.
        retention_s: How long (seconds) the record is kept (TTL), from `now`.
    """
    return {
        "_id": record_id(scope, key, caller),
        "fingerprint": digest,
        "document_id": ObjectId(),
        "state": "in_flight",
        "lease_until": now + timedelta(milliseconds=lease_ms),
        "created_at": now,
        "expires_at": now + timedelta(seconds=retention_s),
    }


def next_step(record: dict[str, Any], digest: str, now: datetime, *, lease_ms: int) -> Step:
    """Decide what a request does with the key record an earlier attempt left.

    Args:
        record: The stored record for the request's (scope, caller, key).
        digest: The request's `fingerprint`.
        now: The current UTC time.
        lease_ms: The lease a claim takes (`Settings.idempotency_lease_ms`).

    Returns:
        "replace" when the record is past its retention (`expires_at`): the key is
        unused again, whatever body it had (claim it with `replace_filter`; the TTL
        monitor deletes such records only once a minute);
        "replay" when the earlier attempt finished (answer with its outcome);
        "take_over" when it was abandoned (its lease expired): claim it with
        `take_over_filter` / `renewed_lease` and do the work again.

    Raises:
        IdempotencyKeyReusedError: the record belongs to a request with another body.
        IdempotencyKeyInFlightError: the earlier attempt still holds a live lease; its
            `retry_after_s` is `retry_after(record, now, lease_ms)`.
    """
    if record["expires_at"] <= now:
        return "replace"
    if record["fingerprint"] != digest:
        raise IdempotencyKeyReusedError()
    if record["state"] == "done":
        return "replay"
    if record["lease_until"] > now:
        raise IdempotencyKeyInFlightError(retry_after_s=retry_after(record, now, lease_ms))
    return "take_over"


def retry_after(record: dict[str, Any], now: datetime, lease_ms: int) -> int:
    """Return the seconds a retry should wait (`Retry-After`) while `record` is in flight.

    The attempt holding the key runs all its database calls within one
    `mongo_timeout_ms`, a third of its lease (`settings.LEASE_TIMEOUTS`), and most finish
    in milliseconds. So while that budget lasts the answer is probably moments away:
    `QUICK_RETRY_S` (1 s, the least `Retry-After` can say, RFC 9110 section 10.2.3).
    Once it is spent, the attempt has crashed or hangs, and nothing can answer before
    its lease ends and a retry takes over: the whole seconds left of the lease.

    Args:
        record: A key record in flight; it was claimed `lease_ms` before its `lease_until`.
        now: The current UTC time.
        lease_ms: The lease a claim takes (`Settings.idempotency_lease_ms`).
    """
    lease_left_s: float = (record["lease_until"] - now).total_seconds()
    budget_left_s = lease_left_s - lease_ms * (1 - 1 / LEASE_TIMEOUTS) / 1000
    if budget_left_s > 0:
        return QUICK_RETRY_S
    return max(QUICK_RETRY_S, math.ceil(lease_left_s))


def replace_filter(record: dict[str, Any]) -> dict[str, Any]:
    """Return a filter that matches `record`, past its retention, only until it is replaced.

    Compare-and-swap on the expiry the caller saw: of two requests reusing an expired
    key at once, exactly one replaces the record (with `new_record`); the other finds
    the new record on its next look.
    """
    return {"_id": record["_id"], "expires_at": record["expires_at"]}


def take_over_filter(record: dict[str, Any]) -> dict[str, Any]:
    """Return a filter that matches `record` only while nobody else has claimed it.

    Compare-and-swap on the lease the caller saw: of two retries taking over at once,
    exactly one matches.
    """
    return {"_id": record["_id"], "state": "in_flight", "lease_until": record["lease_until"]}


def renewed_lease(now: datetime, lease_ms: int) -> dict[str, Any]:
    """Return the update that gives the record a new lease of `lease_ms` ms from `now`."""
    return {"$set": {"lease_until": now + timedelta(milliseconds=lease_ms)}}


def finish_filter(record: dict[str, Any]) -> dict[str, Any]:
    """Return the filter that stores an outcome only once, on a record still in flight."""
    return {"_id": record["_id"], "state": "in_flight"}


def created_outcome(document: dict[str, Any]) -> dict[str, Any]:
    """Return the update that stores "created `document`" as the key's outcome."""
    return {"$set": {"state": "done", "outcome": "created", "document": document}}


# Key records written before resources were generic (the first item-only release) name the
# document `item_id` / `item` and carry no `resource`; records written before unique fields
# were generic name the duplicate `name`. They live one retention period
# (`idempotency_retention_seconds`), so a rolling upgrade still replays them.
LEGACY_RESOURCE = "item"


def duplicate_outcome(resource: str, field: str, value: object) -> dict[str, Any]:
    """Return the update that stores "another `resource` has `field` = `value`" (409).

    Args:
        resource: The resource's snake_case singular name (for the message).
        field: The unique field the first request collided on.
        value: Its value in the first request.
    """
    return {
        "$set": {
            "state": "done",
            "outcome": "duplicate",
            "resource": resource,
            "field": field,
            "value": value,
        }
    }


def replay(record: dict[str, Any]) -> dict[str, Any]:
    """Return the outcome a finished key record holds: the document created, or its 409 again.

    Returns:
        The stored document, as inserted; the repository maps it to its API view.

    Raises:
        DuplicateError: the first request met a document with the same unique value.
    """
    if record["outcome"] == "duplicate":
        resource = record.get("resource", LEGACY_RESOURCE)
        if "field" in record:
            raise DuplicateError(resource, record["value"], record["field"])
        raise DuplicateError(resource, record["name"])
    document: dict[str, Any] = record["document" if "document" in record else "item"]
    return document


def document_id(record: dict[str, Any]) -> ObjectId:
    """Return the `_id` the key's document is (or will be) stored under."""
    found: ObjectId = record["document_id" if "document_id" in record else "item_id"]
    return found
