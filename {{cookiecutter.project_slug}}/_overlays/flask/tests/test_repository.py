"""ItemRepository against a real MongoDB server: integrity and atomic updates."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from {{ cookiecutter.package_name }}.errors import (
    DuplicateItemError,
    ItemNotFoundError,
    PreconditionFailedError,
)
from {{ cookiecutter.package_name }}.repository import ItemRepository
from {{ cookiecutter.package_name }}.schemas import ItemCreate, ItemQuery

MISSING_ID = "0123456789abcdef01234567"


def test_create_then_get_round_trips(repository: ItemRepository) -> None:
    created = repository.create(ItemCreate(name="a", tags=["x"]))
    assert repository.get(created.id) == created
    assert created.version == 1


def test_create_duplicate_name_raises(repository: ItemRepository) -> None:
    repository.create(ItemCreate(name="a"))
    with pytest.raises(DuplicateItemError):
        repository.create(ItemCreate(name="a"))


def test_get_missing_raises(repository: ItemRepository) -> None:
    with pytest.raises(ItemNotFoundError):
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
    with pytest.raises(ItemNotFoundError):
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
    with pytest.raises(ItemNotFoundError):
        repository.delete(created.id)


def test_get_all_counts_over_pages(repository: ItemRepository) -> None:
    for name in ("c", "a", "b"):
        repository.create(ItemCreate(name=name))
    page = repository.get_all(ItemQuery(per_page=2, sort="name"))
    assert [item.name for item in page.items] == ["a", "b"]
    assert page.total == 3
