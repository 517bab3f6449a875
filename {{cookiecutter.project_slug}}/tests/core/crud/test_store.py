"""The operations of the core (`store`) against a real MongoDB server, on every shape.

Integrity (unique fields), atomic version-guarded updates, and safe retries with an
`Idempotency-Key`, run with the sync driver (`store.run`); the routes' tests run them
through each framework's repository.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from {{ cookiecutter.package_name }}.core.clock import utcnow
from {{ cookiecutter.package_name }}.core.crud import documents
from {{ cookiecutter.package_name }}.core.errors import (
    DuplicateError,
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
    NotFoundError,
    PreconditionFailedError,
    UnreadableDocumentError,
)
from {{ cookiecutter.package_name }}.core.settings import Settings

from tests.core.crud.builders import key_record, store_unreadable
from tests.core.crud.conftest import SyncStore
from tests.shapes import SHAPES, Shape

MISSING_ID = "0123456789abcdef01234567"
KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


# The shapes with a unique field, for the tests of duplicates (a resource may have none).
UNIQUE = [shape for shape in SHAPES if shape.resource.unique]


def test_create_then_get_round_trips(repository: SyncStore, shape: Shape) -> None:
    created = repository.create(shape.body())
    assert repository.get(created.id) == created
    assert created.version == 1


@pytest.mark.parametrize("shape", UNIQUE, ids=str)
def test_create_with_a_taken_unique_value_raises_naming_it(
    repository: SyncStore, shape: Shape
) -> None:
    field = shape.resource.unique[0]
    first = shape.body()
    repository.create(first)
    with pytest.raises(DuplicateError) as raised:
        repository.create(shape.body(**{field: first[field]}))
    assert (raised.value.field, raised.value.value) == (field, first[field])


def test_get_missing_raises(repository: SyncStore) -> None:
    with pytest.raises(NotFoundError):
        repository.get(MISSING_ID)


def test_update_bumps_version_and_stamps_time(repository: SyncStore, shape: Shape) -> None:
    created = repository.create(shape.body())
    updated = repository.update(created.id, shape.change, versions=[1])
    assert updated.version == 2
    assert {key: getattr(updated, key) for key in shape.change} == shape.change
    assert updated.updated_at >= created.updated_at


def test_update_at_stale_version_raises_and_changes_nothing(
    repository: SyncStore, shape: Shape
) -> None:
    created = repository.create(shape.body())
    with pytest.raises(PreconditionFailedError):
        repository.update(created.id, shape.change, versions=[5])
    assert repository.get(created.id).version == 1


def test_update_missing_raises_not_found(repository: SyncStore, shape: Shape) -> None:
    with pytest.raises(NotFoundError):
        repository.update(MISSING_ID, shape.change, versions=[1])


def test_racing_guarded_updates_let_exactly_one_win(repository: SyncStore, shape: Shape) -> None:
    created = repository.create(shape.body())

    def attempt(_: int) -> object:
        try:
            return repository.update(created.id, shape.change, versions=[1])
        except PreconditionFailedError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(attempt, range(10)))
    winners = [result for result in results if not isinstance(result, Exception)]
    assert len(winners) == 1
    assert all(isinstance(r, PreconditionFailedError) for r in results if r not in winners)
    assert repository.get(created.id).version == 2


def test_delete_removes_and_then_raises(repository: SyncStore, shape: Shape) -> None:
    created = repository.create(shape.body())
    repository.delete(created.id)
    with pytest.raises(NotFoundError):
        repository.delete(created.id)


def test_get_all_counts_over_pages(repository: SyncStore, shape: Shape) -> None:
    made = [repository.create(shape.body()).id for _ in range(3)]
    page = repository.get_all(per_page=2, sort="created_at")
    assert [found.id for found in page.items] == made[:2]
    assert page.total == 3


# --- Idempotency-Key ------------------------------------------------------------------


def test_create_with_a_key_twice_stores_one_document_and_replays_it(
    repository: SyncStore, shape: Shape
) -> None:
    body = shape.body()
    first = repository.create(body, idempotency_key=KEY)
    again = repository.create(body, idempotency_key=KEY)
    assert again == first
    assert repository.collection.count_documents({}) == 1


def test_create_with_a_used_key_and_another_body_raises(
    repository: SyncStore, shape: Shape
) -> None:
    repository.create(shape.body(), idempotency_key=KEY)
    with pytest.raises(IdempotencyKeyReusedError):
        repository.create(shape.body(), idempotency_key=KEY)
    assert repository.collection.count_documents({}) == 1


@pytest.mark.parametrize("shape", UNIQUE, ids=str)
def test_a_duplicate_outcome_is_replayed_even_once_the_value_is_free(
    repository: SyncStore, shape: Shape
) -> None:
    body = shape.body()
    taken = repository.create(body)
    with pytest.raises(DuplicateError):
        repository.create(body, idempotency_key=KEY)
    repository.delete(taken.id)
    with pytest.raises(DuplicateError):
        repository.create(body, idempotency_key=KEY)
    assert repository.collection.count_documents({}) == 0


def test_a_key_in_flight_asks_for_a_retry_in_a_second_then_when_its_lease_ends(
    repository: SyncStore, shape: Shape
) -> None:
    """`Retry-After` is 1 s while the holder may still answer, then the lease left."""
    body = shape.body()
    lease_s = repository.store.key_lease_ms / 1000
    record = key_record(shape, KEY, body, lease_s=lease_s)  # claimed just now
    repository.keys.insert_one(record)
    with pytest.raises(IdempotencyKeyInFlightError) as raised:
        repository.create(body, idempotency_key=KEY)
    assert raised.value.retry_after_s == 1
    # Claimed long ago: the holder's MONGO_TIMEOUT_MS (a third of the lease) is spent.
    later = {"$set": {"lease_until": utcnow() + timedelta(seconds=4)}}
    repository.keys.update_one({"_id": record["_id"]}, later)
    with pytest.raises(IdempotencyKeyInFlightError) as raised:
        repository.create(body, idempotency_key=KEY)
    assert raised.value.retry_after_s == 4
    assert repository.collection.count_documents({}) == 0


@pytest.mark.parametrize("shape", UNIQUE, ids=str)
def test_a_key_is_its_callers_own(repository: SyncStore, shape: Shape) -> None:
    """IETF draft: keys are scoped per client, so one caller never gets another's answer."""
    body, own_body = shape.body(), shape.body()
    first = repository.create(body, idempotency_key=KEY, caller="api_key:a")
    # B sends its own body under A's key: B's new document, not "key already used".
    own = repository.create(own_body, idempotency_key=KEY, caller="api_key:b")
    assert own.id != first.id
    assert repository.create(own_body, idempotency_key=KEY, caller="api_key:b") == own
    # C sends A's key and body: a new request of C's (a unique value is taken), never A's.
    with pytest.raises(DuplicateError):
        repository.create(body, idempotency_key=KEY, caller="api_key:c")
    assert repository.create(body, idempotency_key=KEY, caller="api_key:a") == first
    assert repository.collection.count_documents({}) == 2


@pytest.mark.parametrize("shape", UNIQUE, ids=str)
def test_a_key_record_past_its_retention_is_never_replayed(
    repository: SyncStore, shape: Shape
) -> None:
    """MongoDB's TTL monitor deletes it up to a minute late; until then it counts as absent."""
    body = shape.body()
    first = repository.create(body, idempotency_key=KEY)
    expired = {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    repository.keys.update_one({}, expired)
    other = repository.create(shape.body(), idempotency_key=KEY)  # not a 422
    assert other.id != first.id
    repository.keys.update_one({}, expired)
    with pytest.raises(DuplicateError):  # a new request: the value is taken, nothing replayed
        repository.create(body, idempotency_key=KEY)
    assert repository.keys.count_documents({}) == 1


@pytest.mark.parametrize(
    ("fields", "removed", "failing"),
    [
        ({"version": "two"}, (), "version"),  # MongoDB: TypeMismatch (14) on $inc
        ({"extra": 1}, (), "extra"),  # DocumentValidationFailure (121)
        ({}, ("created_at",), "created_at"),  # DocumentValidationFailure (121)
    ],
)
def test_changing_a_stored_document_the_model_refuses_raises_unreadable_and_changes_nothing(
    repository: SyncStore,
    shape: Shape,
    settings: Settings,
    fields: dict[str, object],
    removed: tuple[str, ...],
    failing: str,
) -> None:
    document_id = store_unreadable(settings, shape, removed=removed, **fields)
    before = repository.collection.find_one({"_id": ObjectId(document_id)})
    replacement = shape.resource.create.model_validate(shape.body()).model_dump()
    for changes in (dict(shape.change), replacement):
        with pytest.raises(UnreadableDocumentError) as raised:
            repository.update(document_id, changes)
        assert raised.value.failures == {document_id: [failing]}
    assert repository.collection.find_one({"_id": ObjectId(document_id)}) == before


def test_an_abandoned_key_is_taken_over_and_finds_the_document_stored_before_a_crash(
    repository: SyncStore, shape: Shape
) -> None:
    body = shape.body()
    record = key_record(shape, KEY, body, lease_s=-1)
    repository.keys.insert_one(record)
    # The crash hit after the document was stored, before the outcome was.
    model = shape.resource.create.model_validate(body)
    repository.collection.insert_one(
        documents.new_document(shape.resource, model, record["document_id"])
    )
    created = repository.create(body, idempotency_key=KEY)
    assert created.id == str(record["document_id"])
    assert repository.collection.count_documents({}) == 1
    finished = repository.keys.find_one({"_id": record["_id"]})
    assert finished is not None
    assert finished["state"] == "done"


def test_an_abandoned_key_without_its_document_creates_it_under_the_reserved_id(
    repository: SyncStore, shape: Shape
) -> None:
    body = shape.body()
    record = key_record(shape, KEY, body, lease_s=-1)
    repository.keys.insert_one(record)
    created = repository.create(body, idempotency_key=KEY)
    assert created.id == str(record["document_id"])
    assert repository.collection.count_documents({}) == 1


def test_concurrent_creates_with_one_key_store_one_document(
    repository: SyncStore, shape: Shape
) -> None:
    body = shape.body()
    read: Any = shape.resource.read

    def create(_: int) -> Any:
        try:
            return repository.create(body, idempotency_key=KEY)
        except Exception as exc:  # collected, checked below
            return exc

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(create, range(10)))
    created = {result.id for result in results if isinstance(result, read)}
    assert len(created) == 1
    refused = [result for result in results if not isinstance(result, read)]
    assert all(isinstance(result, IdempotencyKeyInFlightError) for result in refused)
    assert repository.collection.count_documents({}) == 1
