"""ItemRepository against a real MongoDB server: integrity, atomic updates, safe retries."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from bson import ObjectId

from {{ cookiecutter.package_name }}.clock import utcnow
from {{ cookiecutter.package_name }}.errors import (
    DuplicateError,
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
    InvalidCursorError,
    NotFoundError,
    PreconditionFailedError,
    UnreadableDocumentError,
)
from {{ cookiecutter.package_name }}.items import documents
from {{ cookiecutter.package_name }}.items.repository import ItemRepository
from {{ cookiecutter.package_name }}.items.schemas import ItemCreate, ItemQuery, ItemRead
from {{ cookiecutter.package_name }}.settings import Settings
from tests.items.builders import item_body, key_record, store_unreadable

MISSING_ID = "0123456789abcdef01234567"


def test_create_then_get_round_trips(repository: ItemRepository) -> None:
    created = repository.create(ItemCreate(name="a", tags=["x"]))
    assert repository.get(created.id) == created
    assert created.version == 1


def test_create_duplicate_name_raises(repository: ItemRepository) -> None:
    repository.create(ItemCreate(name="a"))
    with pytest.raises(DuplicateError):
        repository.create(ItemCreate(name="a"))


def test_get_missing_raises(repository: ItemRepository) -> None:
    with pytest.raises(NotFoundError):
        repository.get(MISSING_ID)


def test_update_bumps_version_and_stamps_time(repository: ItemRepository) -> None:
    created = repository.create(ItemCreate(name="a"))
    updated = repository.update(created.id, {"description": "d"}, versions=[1])
    assert (updated.version, updated.description) == (2, "d")
    assert updated.updated_at >= created.updated_at


def test_update_at_stale_version_raises_and_changes_nothing(
    repository: ItemRepository,
) -> None:
    created = repository.create(ItemCreate(name="a"))
    with pytest.raises(PreconditionFailedError):
        repository.update(created.id, {"description": "d"}, versions=[5])
    assert (repository.get(created.id)).version == 1


def test_update_missing_raises_not_found(repository: ItemRepository) -> None:
    with pytest.raises(NotFoundError):
        repository.update(MISSING_ID, {"description": "d"}, versions=[1])


def test_racing_guarded_updates_let_exactly_one_win(repository: ItemRepository) -> None:
    created = repository.create(ItemCreate(name="a"))

    def attempt(n: int) -> object:
        try:
            return repository.update(created.id, {"description": str(n)}, versions=[1])
        except PreconditionFailedError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(attempt, range(10)))
    winners = [result for result in results if not isinstance(result, Exception)]
    assert len(winners) == 1
    assert all(isinstance(r, PreconditionFailedError) for r in results if r not in winners)
    assert (repository.get(created.id)).version == 2


def test_delete_removes_and_then_raises(repository: ItemRepository) -> None:
    created = repository.create(ItemCreate(name="a"))
    repository.delete(created.id)
    with pytest.raises(NotFoundError):
        repository.delete(created.id)


def test_get_all_counts_over_pages(repository: ItemRepository) -> None:
    for name in ("c", "a", "b"):
        repository.create(ItemCreate(name=name))
    page = repository.get_all(ItemQuery(per_page=2, sort="name"))
    assert [item.name for item in page.items] == ["a", "b"]
    assert page.total == 3


# --- Idempotency-Key ------------------------------------------------------------------

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


def test_create_with_a_key_twice_stores_one_item_and_replays_it(
    repository: ItemRepository,
) -> None:
    body = item_body()
    first = repository.create(ItemCreate(**body), idempotency_key=KEY)
    again = repository.create(ItemCreate(**body), idempotency_key=KEY)
    assert again == first
    assert repository.collection.count_documents({}) == 1


def test_create_with_a_used_key_and_another_body_raises(repository: ItemRepository) -> None:
    repository.create(ItemCreate(**item_body()), idempotency_key=KEY)
    with pytest.raises(IdempotencyKeyReusedError):
        repository.create(ItemCreate(**item_body()), idempotency_key=KEY)
    assert repository.collection.count_documents({}) == 1


def test_a_duplicate_name_outcome_is_replayed_even_once_the_name_is_free(
    repository: ItemRepository,
) -> None:
    body = item_body()
    taken = repository.create(ItemCreate(**body))
    with pytest.raises(DuplicateError):
        repository.create(ItemCreate(**body), idempotency_key=KEY)
    repository.delete(taken.id)
    with pytest.raises(DuplicateError):
        repository.create(ItemCreate(**body), idempotency_key=KEY)
    assert repository.collection.count_documents({}) == 0


def test_a_key_in_flight_asks_for_a_retry_in_a_second_then_when_its_lease_ends(
    repository: ItemRepository,
) -> None:
    """`Retry-After` is 1 s while the holder may still answer, then the lease left."""
    body = item_body()
    record = key_record(KEY, body, lease_s=repository.key_lease_ms / 1000)  # claimed just now
    repository.keys.insert_one(record)
    with pytest.raises(IdempotencyKeyInFlightError) as raised:
        repository.create(ItemCreate(**body), idempotency_key=KEY)
    assert raised.value.retry_after_s == 1
    # Claimed 11 s ago: the holder's MONGO_TIMEOUT_MS (a third of the lease) is spent.
    later = {"$set": {"lease_until": utcnow() + timedelta(seconds=4)}}
    repository.keys.update_one({"_id": record["_id"]}, later)
    with pytest.raises(IdempotencyKeyInFlightError) as raised:
        repository.create(ItemCreate(**body), idempotency_key=KEY)
    assert raised.value.retry_after_s == 4
    assert repository.collection.count_documents({}) == 0


def test_an_abandoned_key_is_taken_over_and_finds_the_item_stored_before_a_crash(
    repository: ItemRepository,
) -> None:
    body = item_body()
    record = key_record(KEY, body, lease_s=-1)
    repository.keys.insert_one(record)
    # The crash hit after the item was stored, before the outcome was.
    stored = documents.new_document(ItemCreate(**body), record["document_id"])
    repository.collection.insert_one(stored)
    item = repository.create(ItemCreate(**body), idempotency_key=KEY)
    assert item.id == str(record["document_id"])
    assert repository.collection.count_documents({}) == 1
    finished = repository.keys.find_one({"_id": record["_id"]})
    assert finished is not None
    assert finished["state"] == "done"


def test_an_abandoned_key_without_its_item_creates_it_under_the_reserved_id(
    repository: ItemRepository,
) -> None:
    body = item_body()
    record = key_record(KEY, body, lease_s=-1)
    repository.keys.insert_one(record)
    item = repository.create(ItemCreate(**body), idempotency_key=KEY)
    assert item.id == str(record["document_id"])
    assert repository.collection.count_documents({}) == 1


def test_concurrent_creates_with_one_key_store_one_item(repository: ItemRepository) -> None:
    body = item_body()

    def create() -> ItemRead | Exception:
        try:
            return repository.create(ItemCreate(**body), idempotency_key=KEY)
        except Exception as exc:  # collected, checked below
            return exc

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: create(), range(10)))
    created = {result.id for result in results if isinstance(result, ItemRead)}
    assert len(created) == 1
    refused = [result for result in results if not isinstance(result, ItemRead)]
    assert all(isinstance(result, IdempotencyKeyInFlightError) for result in refused), refused
    assert repository.collection.count_documents({}) == 1


def test_migrations_expire_key_records_at_their_expiry(
    repository: ItemRepository,
) -> None:
    indexes = repository.keys.index_information()
    assert indexes["expires_at_ttl"]["key"] == [("expires_at", 1)]
    assert indexes["expires_at_ttl"]["expireAfterSeconds"] == 0


def test_a_key_is_its_callers_own(repository: ItemRepository) -> None:
    """IETF draft: keys are scoped per client, so one caller never gets another's answer."""
    body, own_body = item_body(), item_body()
    first = repository.create(ItemCreate(**body), idempotency_key=KEY, caller="api_key:a")
    # B sends its own body under A's key: B's new item, not "key already used".
    own = repository.create(ItemCreate(**own_body), idempotency_key=KEY, caller="api_key:b")
    assert own.id != first.id
    again = repository.create(ItemCreate(**own_body), idempotency_key=KEY, caller="api_key:b")
    assert again == own
    # C sends A's key and body: a new request of C's (the name is taken), never A's item.
    with pytest.raises(DuplicateError):
        repository.create(ItemCreate(**body), idempotency_key=KEY, caller="api_key:c")
    replayed = repository.create(ItemCreate(**body), idempotency_key=KEY, caller="api_key:a")
    assert replayed == first
    assert repository.collection.count_documents({}) == 2


def test_a_key_record_past_its_retention_is_never_replayed(repository: ItemRepository) -> None:
    """MongoDB's TTL monitor deletes it up to a minute late; until then it counts as absent."""
    body = item_body()
    first = repository.create(ItemCreate(**body), idempotency_key=KEY)
    expired = {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    repository.keys.update_one({}, expired)
    other = repository.create(ItemCreate(**item_body()), idempotency_key=KEY)  # not a 422
    assert other.id != first.id
    repository.keys.update_one({}, expired)
    with pytest.raises(DuplicateError):  # a new request: the name is taken, nothing replayed
        repository.create(ItemCreate(**body), idempotency_key=KEY)
    assert repository.keys.count_documents({}) == 1


@pytest.mark.parametrize(
    ("fields", "removed", "failing"),
    [
        ({"version": "two"}, (), "version"),  # MongoDB: TypeMismatch (14) on $inc
        ({"extra": 1}, (), "extra"),  # DocumentValidationFailure (121)
        ({}, ("created_at",), "created_at"),  # DocumentValidationFailure (121)
    ],
)
def test_changing_a_stored_item_the_model_refuses_raises_unreadable_and_changes_nothing(
    repository: ItemRepository,
    settings: Settings,
    fields: dict[str, object],
    removed: tuple[str, ...],
    failing: str,
) -> None:
    item_id = store_unreadable(settings, removed=removed, **fields)
    before = repository.collection.find_one({"_id": ObjectId(item_id)})
    for changes in ({"description": "changed"}, item_body()):
        with pytest.raises(UnreadableDocumentError) as raised:
            repository.update(item_id, changes)
        assert raised.value.failures == {item_id: [failing]}
    assert repository.collection.find_one({"_id": ObjectId(item_id)}) == before


def test_a_cursor_is_refused_by_another_collections_list(repository: ItemRepository) -> None:
    for name in ("a", "b", "c"):
        repository.create(ItemCreate(name=name))
    cursor = (repository.get_all(ItemQuery(sort="name", per_page=1))).next
    assert cursor is not None
    copies = ItemRepository(
        repository.collection.database["copies"],
        key_lease_ms=repository.key_lease_ms,
        key_retention_s=repository.key_retention_s,
    )
    with pytest.raises(InvalidCursorError, match="another list"):
        copies.get_all(ItemQuery(cursor=cursor))
    page = repository.get_all(ItemQuery(cursor=cursor, per_page=1))
    assert [item.name for item in page.items] == ["b"]
