"""Item fixtures: a repository on the test's database (the app fixtures are shared)."""

from collections.abc import AsyncIterator

import pytest

from {{ cookiecutter.package_name }} import db
from {{ cookiecutter.package_name }}.items.documents import COLLECTION
from {{ cookiecutter.package_name }}.items.repository import ItemRepository
from {{ cookiecutter.package_name }}.settings import Settings


@pytest.fixture
async def repository(settings: Settings) -> AsyncIterator[ItemRepository]:
    """Yield a repository on the test's database (migrated: validator and indexes)."""
    mongo_client = db.create_client(settings)
    repo = ItemRepository(
        mongo_client[settings.mongo_database][COLLECTION],
        key_lease_ms=settings.idempotency_lease_ms,
        key_retention_s=settings.idempotency_retention_seconds,
    )
    yield repo
    await db.close_client(mongo_client)
