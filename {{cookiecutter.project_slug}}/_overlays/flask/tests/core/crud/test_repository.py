"""The sync repository: runs the core's operations (`store`) with the app's sync driver."""

from collections.abc import Iterator
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
def repositories(settings: Settings) -> Iterator[dict[str, Repository]]:
    """Yield the app's repositories (one per resource served) on the test's database."""
    client = db.create_client(settings)
    yield build_repositories(SERVED, client[settings.mongo_database], settings)
    db.close_client(client)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_each_resource_gets_a_repository_that_runs_every_operation(
    repositories: dict[str, Repository], shape: Shape
) -> None:
    repository = repositories[shape.resource.name]
    created: Any = repository.create(shape.resource.create.model_validate(shape.body()))
    assert repository.get(created.id) == created
    changed: Any = repository.update(created.id, shape.change, versions=[1])
    assert changed.version == 2
    page: Any = repository.get_all(shape.resource.query.model_validate({}))  # type: ignore[arg-type]
    assert [found.id for found in page.items] == [created.id]
    repository.delete(created.id)
    assert repository.resource is shape.resource


def test_an_error_the_operation_handles_is_thrown_into_it(
    repositories: dict[str, Repository],
) -> None:
    shape = SHAPES[0]
    repository = repositories[shape.resource.name]
    body = shape.resource.create.model_validate(shape.body())
    repository.create(body)
    with pytest.raises(DuplicateError):  # the store turned DuplicateKeyError into it
        repository.create(body)


def test_an_error_no_operation_handles_leaves_as_the_driver_raised_it(
    repositories: dict[str, Repository],
) -> None:
    def broken() -> Steps[None]:
        yield DOCUMENTS, lambda collection: collection.find_one({"$nope": 1})

    with pytest.raises(OperationFailure):
        repositories[SHAPES[0].resource.name].run(broken())
