"""App fixtures for FastAPI: the app, an HTTP client with the lifespan running, resources."""

import dataclasses
from collections.abc import AsyncIterator
from typing import cast

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.registry import RESOURCES
from {{ cookiecutter.package_name }}.resources import Repository, Resource
from {{ cookiecutter.package_name }}.settings import Settings


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """Return a new app for the test's database (migrated)."""
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI, credentials: dict[str, str]) -> AsyncIterator[httpx2.AsyncClient]:
    """Yield an HTTP client to the app, with its lifespan running, sending `credentials`."""
    async with LifespanManager(app) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://test", headers=credentials
        ) as http:
            yield http


@pytest.fixture
def second_resource() -> Resource:
    """Return a second resource: the first one's code on collection "copies", without routes.

    Its repository class is a subclass of the first's, so the app keeps the two apart.
    """
    first = RESOURCES[0]
    repository = cast(type[Repository], type("CopyRepository", (first.repository,), {}))
    return dataclasses.replace(
        first, name="copy", collection="copies", repository=repository, router=APIRouter()
    )
