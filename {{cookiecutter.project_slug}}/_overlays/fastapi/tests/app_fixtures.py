"""App fixtures for FastAPI: the app, HTTP clients with the lifespan running."""

from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.settings import Settings

from tests.shapes import SERVED


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """Return a new app for the test's database (migrated), serving the tests' resources."""
    return create_app(settings, resources=SERVED)


@pytest.fixture
async def client(app: FastAPI, credentials: dict[str, str]) -> AsyncIterator[httpx2.AsyncClient]:
    """Yield an async HTTP client to the app, with its lifespan running, sending `credentials`."""
    async with LifespanManager(app) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://test", headers=credentials
        ) as http:
            yield http


@pytest.fixture
def http(app: FastAPI, credentials: dict[str, str]) -> Iterator[TestClient]:
    """Yield a sync client to the app (`tests.http.Http`), lifespan running, sending `credentials`.

    Starlette's `TestClient` runs the app on an event loop of its own thread: the shared
    tests (`tests/core/crud/`) call it as they call Flask's.
    """
    with TestClient(app, headers=credentials) as test_client:
        yield test_client
