"""The async repository: runs the core's operations (`store`) with the app's async driver."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.errors import OperationFailure

from {{ cookiecutter.package_name }}.core import db
from {{ cookiecutter.package_name }}.core.crud.repository import Repository, build_repositories
from {{ cookiecutter.package_name }}.core.crud.store import DOCUMENTS, Steps
from {{ cookiecutter.package_name }}.core.errors import DuplicateError
from {{ cookiecutter.package_name }}.core.settings import Settings

from tests.shapes import SERVED, SHAPES, Shape


@pytest.fixture
async def repositories(settings: Settings) -> AsyncIterator[dict[str, Repository]]:
    """Yield the app's repositories (one per resource served) on the test's database."""
    client = db.create_client(settings)
    yield build_repositories(SERVED, client[settings.mongo_database], settings)
    await db.close_client(client)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
async def test_each_resource_gets_a_repository_that_runs_every_operation(
    repositories: dict[str, Repository], shape: Shape
) -> None:
    repository = repositories[shape.resource.name]
    created: Any = await repository.create(shape.resource.create.model_validate(shape.body()))
    assert await repository.get(created.id) == created
    changed: Any = await repository.update(created.id, shape.change, versions=[1])
    assert changed.version == 2
    page: Any = await repository.get_all(shape.resource.query.model_validate({}))  # type: ignore[arg-type]
    assert [found.id for found in page.items] == [created.id]
    await repository.delete(created.id)
    assert repository.resource is shape.resource


async def test_an_error_the_operation_handles_is_thrown_into_it(
    repositories: dict[str, Repository],
) -> None:
    shape = SHAPES[0]
    repository = repositories[shape.resource.name]
    body = shape.resource.create.model_validate(shape.body())
    await repository.create(body)
    with pytest.raises(DuplicateError):  # the store turned DuplicateKeyError into it
        await repository.create(body)


async def test_an_error_no_operation_handles_leaves_as_the_driver_raised_it(
    repositories: dict[str, Repository],
) -> None:
    def broken() -> Steps[None]:
        yield DOCUMENTS, lambda collection: collection.find_one({"$nope": 1})

    with pytest.raises(OperationFailure):
        await repositories[SHAPES[0].resource.name].run(broken())
