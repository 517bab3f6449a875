"""Fixtures shared by every test: one MongoDB server per session, a fresh database per test.

The app and HTTP-client fixtures live in `tests/app_fixtures.py` (framework-specific), the
callers' credentials in `tests/access_fixtures.py` (specific to the access mode).
"""

import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from {{ cookiecutter.package_name }} import idempotency
from {{ cookiecutter.package_name }}.registry import RESOURCES
from {{ cookiecutter.package_name }}.settings import Settings
from tests import mongo

pytest_plugins = ["tests.app_fixtures", "tests.access_fixtures"]


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
def indexes(settings: Settings) -> Settings:
    """Create every resource's indexes in the test's database, as its migration does.

    List queries name their index (`hint`), so the service needs them before serving.
    """
    client: MongoClient[dict[str, Any]]
    with MongoClient(settings.mongo_uri.get_secret_value()) as client:
        database: Database[dict[str, Any]] = client[settings.mongo_database]
        for resource in RESOURCES:
            for keys, options in resource.indexes:
                database[resource.collection].create_index(keys, **options)
        for keys, options in idempotency.INDEXES:
            database[idempotency.COLLECTION].create_index(keys, **options)
    return settings
