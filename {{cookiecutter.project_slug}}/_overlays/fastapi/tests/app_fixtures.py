"""App fixtures for FastAPI: the app, an HTTP client with the lifespan running, a repository."""

from collections.abc import AsyncIterator

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from {{ cookiecutter.package_name }} import db
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.documents import COLLECTION
from {{ cookiecutter.package_name }}.repository import ItemRepository
from {{ cookiecutter.package_name }}.settings import Settings


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """Return a new app for the test's database."""
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    """Yield an HTTP client to the app, with its lifespan running."""
    async with LifespanManager(app) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


@pytest.fixture
async def repository(settings: Settings) -> AsyncIterator[ItemRepository]:
    """Yield a repository on the test's database, indexes created."""
    mongo_client = db.create_client(settings)
    repo = ItemRepository(
        mongo_client[settings.mongo_database][COLLECTION],
        key_lease_ms=settings.idempotency_lease_ms,
        key_retention_s=settings.idempotency_retention_seconds,
    )
    await repo.ensure_indexes()
    yield repo
    await db.close_client(mongo_client)
