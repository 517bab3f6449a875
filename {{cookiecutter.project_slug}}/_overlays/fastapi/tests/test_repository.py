"""ItemRepository against a real MongoDB server: integrity and atomic updates."""

import asyncio

import pytest

from {{ cookiecutter.package_name }}.errors import (
    DuplicateItemError,
    ItemNotFoundError,
    PreconditionFailedError,
)
from {{ cookiecutter.package_name }}.repository import ItemRepository
from {{ cookiecutter.package_name }}.schemas import ItemCreate, ItemQuery

MISSING_ID = "0123456789abcdef01234567"


async def test_create_then_get_round_trips(repository: ItemRepository) -> None:
    created = await repository.create(ItemCreate(name="a", tags=["x"]))
    assert await repository.get(created.id) == created
    assert created.version == 1


async def test_create_duplicate_name_raises(repository: ItemRepository) -> None:
    await repository.create(ItemCreate(name="a"))
    with pytest.raises(DuplicateItemError):
        await repository.create(ItemCreate(name="a"))


async def test_get_missing_raises(repository: ItemRepository) -> None:
    with pytest.raises(ItemNotFoundError):
        await repository.get(MISSING_ID)


async def test_update_bumps_version_and_stamps_time(repository: ItemRepository) -> None:
    created = await repository.create(ItemCreate(name="a"))
    updated = await repository.update(created.id, {"description": "d"}, versions=[1])
    assert (updated.version, updated.description) == (2, "d")
    assert updated.updated_at >= created.updated_at


async def test_update_at_stale_version_raises_and_changes_nothing(
    repository: ItemRepository,
) -> None:
    created = await repository.create(ItemCreate(name="a"))
    with pytest.raises(PreconditionFailedError):
        await repository.update(created.id, {"description": "d"}, versions=[5])
    assert (await repository.get(created.id)).version == 1


async def test_update_missing_raises_not_found(repository: ItemRepository) -> None:
    with pytest.raises(ItemNotFoundError):
        await repository.update(MISSING_ID, {"description": "d"}, versions=[1])


async def test_racing_guarded_updates_let_exactly_one_win(repository: ItemRepository) -> None:
    created = await repository.create(ItemCreate(name="a"))
    results = await asyncio.gather(
        *(repository.update(created.id, {"description": str(n)}, versions=[1]) for n in range(10)),
        return_exceptions=True,
    )
    winners = [result for result in results if not isinstance(result, Exception)]
    assert len(winners) == 1
    assert all(isinstance(r, PreconditionFailedError) for r in results if r not in winners)
    assert (await repository.get(created.id)).version == 2


async def test_delete_removes_and_then_raises(repository: ItemRepository) -> None:
    created = await repository.create(ItemCreate(name="a"))
    await repository.delete(created.id)
    with pytest.raises(ItemNotFoundError):
        await repository.delete(created.id)


async def test_get_all_counts_over_pages(repository: ItemRepository) -> None:
    for name in ("c", "a", "b"):
        await repository.create(ItemCreate(name=name))
    page = await repository.get_all(ItemQuery(per_page=2, sort="name"))
    assert [item.name for item in page.items] == ["a", "b"]
    assert page.total == 3
