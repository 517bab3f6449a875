"""Fixtures: a MongoDB server per session, a fresh database per test, the app and its lifespan."""

import uuid
from collections.abc import AsyncIterator, Iterator
from functools import cache
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo import MongoClient

from {{ cookiecutter.package_name }} import db
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.documents import COLLECTION
from {{ cookiecutter.package_name }}.repository import ItemRepository
from {{ cookiecutter.package_name }}.settings import Settings
from tests import mongo


@cache
def backend() -> str:
    """Return the MongoDB backend for this session (see tests/mongo.py)."""
    return mongo.choose_backend()


def pytest_report_header() -> str:
    """Say in the pytest header which MongoDB server the tests use."""
    return mongo.describe(backend())


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    """Start (or reach) the session's MongoDB server; yield its URI."""
    with mongo.mongo_uri(backend()) as uri:
        yield uri


@pytest.fixture
def settings(mongo_uri: str) -> Iterator[Settings]:
    """Return settings for a fresh database, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield Settings(mongo_uri=mongo_uri, mongo_database=name, environment="test")
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_uri) as client:
        client.drop_database(name)


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
    repo = ItemRepository(mongo_client[settings.mongo_database][COLLECTION])
    await repo.ensure_indexes()
    yield repo
    await db.close_client(mongo_client)
