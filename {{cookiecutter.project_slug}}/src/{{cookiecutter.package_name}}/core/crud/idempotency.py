"""Safe POST retries with the `Idempotency-Key` request header: keys, fingerprints, records.

Follows the IETF httpapi draft "The Idempotency-Key HTTP Header Field": the first
response to a key is kept and replayed to a retry with the same key and body; the same
key with another body is a 422; a retry while the first request still runs is a 409.

Pure functions shared by the sync and async repositories. A key record lives in its own
collection (`COLLECTION`), one document per (scope, key):

    {_id: {scope, key}, fingerprint, document_id, state: "in_flight" | "done",
     lease_until, created_at, expires_at, outcome?, document?, resource?, name?}

The scope is the resource's collection, so every resource's keys share this collection.
`document_id` is chosen when the key is first seen, so every attempt for the key inserts
the document under the same `_id`: an attempt that finds it already there knows an earlier
one stored it (exactly one document even when a crash hit between the two writes, no
transaction needed). A lease (`lease_until`) tells a live attempt from an abandoned one. A TTL index
deletes a record at `expires_at`; the retention is fixed when the record is written, so
changing the setting never has to change the index.
"""

import hashlib
import json
import math
import re
from datetime import datetime, timedelta
from typing import Any, Literal

from bson import ObjectId

from ..errors import DuplicateError, IdempotencyKeyInFlightError, IdempotencyKeyReusedError

COLLECTION = "idempotency_keys"

_ESCAPE = re.compile(r"\\(.)")

# (keys, options) for create_index on COLLECTION: delete a record at its `expires_at`.
INDEXES: list[tuple[list[tuple[str, int]], dict[str, Any]]] = [
    ([("expires_at", 1)], {"expireAfterSeconds": 0, "name": "expires_at_ttl"}),
]

Step = Literal["replay", "take_over"]


def parse_key(value: str | None) -> str | None:
    """Return the key a header value names: a bare token as is, a quoted string unescaped.

    `value` matches `schemas.IDEMPOTENCY_KEY_PATTERN` (the request schema checks it);
    None (no header) stays None.
    """
    if value is not None and value.startswith('"'):
        return _ESCAPE.sub(r"\1", value[1:-1])
    return value


def fingerprint(body: dict[str, Any]) -> str:
    """Return the SHA-256 (hex) of the canonical JSON of a validated request body.

    Canonical: keys sorted, no whitespace, defaults filled in by validation, so two
    bodies that mean the same document (e.g. `tags` omitted or `[]`) match.
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record_id(scope: str, key: str) -> dict[str, str]:
    """Return the `_id` of a key record: keys are scoped per resource (and caller, later)."""
    return {"scope": scope, "key": key}


def new_record(
    scope: str, key: str, digest: str, now: datetime, *, lease_ms: int, retention_s: int
) -> dict[str, Any]:
    """Return the record that claims `key` for a first attempt, with a fresh document id.

    Args:
        scope: The resource the key belongs to (its collection name).
        key: The parsed key (`parse_key`).
        digest: The request's `fingerprint`.
        now: The current UTC time.
        lease_ms: How long (ms) the attempt may hold the key before a retry may take over.
        retention_s: How long (seconds) the record is kept (TTL), from `now`.
    """
    return {
        "_id": record_id(scope, key),
        "fingerprint": digest,
        "document_id": ObjectId(),
        "state": "in_flight",
        "lease_until": now + timedelta(milliseconds=lease_ms),
        "created_at": now,
        "expires_at": now + timedelta(seconds=retention_s),
    }


def next_step(record: dict[str, Any], digest: str, now: datetime) -> Step:
    """Decide what a request does with the key record an earlier attempt left.

    Returns:
        "replay" when the earlier attempt finished (answer with its outcome);
        "take_over" when it was abandoned (its lease expired): claim it with
        `take_over_filter` / `renewed_lease` and do the work again.

    Raises:
        IdempotencyKeyReusedError: the record belongs to a request with another body.
        IdempotencyKeyInFlightError: the earlier attempt still holds a live lease.
    """
    if record["fingerprint"] != digest:
        raise IdempotencyKeyReusedError()
    if record["state"] == "done":
        return "replay"
    remaining = (record["lease_until"] - now).total_seconds()
    if remaining > 0:
        raise IdempotencyKeyInFlightError(retry_after_s=math.ceil(remaining))
    return "take_over"


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
