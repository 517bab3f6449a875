"""Fixtures shared by every test: one MongoDB server per session, a fresh database per test.

Each test's database has every migration applied (`settings`), as `make migrate` would,
and the collection of the tests' own resource (`shapes.READINGS`); `unmigrated_settings`
gives one without.

The app and HTTP-client fixtures live in `tests/app_fixtures.py` (framework-specific), the
callers' credentials in `tests/access_fixtures.py` (specific to the access mode).
"""

import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from pymongo import MongoClient

from {{ cookiecutter.package_name }}.core.migrations.operations import create_resource
from {{ cookiecutter.package_name }}.core.migrations.runner import Runner
from {{ cookiecutter.package_name }}.core.settings import Settings

from tests import mongo
from tests.shapes import READINGS

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


@pytest.fixture(scope="session")
def mongo_client(mongo_uri: str) -> Iterator[MongoClient[dict[str, Any]]]:
    """Yield a sync client of the session's server (for set-up and checks, not the app)."""
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_uri) as client:
        yield client


@pytest.fixture
def unmigrated_settings(
    mongo_uri: str, mongo_client: MongoClient[dict[str, Any]]
) -> Iterator[Settings]:
    """Return settings for a fresh, empty database (no migration applied), dropped after."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield Settings(mongo_uri=mongo_uri, mongo_database=name, environment="test")
    mongo_client.drop_database(name)


@pytest.fixture
def settings(unmigrated_settings: Settings, mongo_client: MongoClient[dict[str, Any]]) -> Settings:
    """Return settings for a fresh database with every migration applied (`make migrate`)."""
    database = mongo_client[unmigrated_settings.mongo_database]
    Runner(database).upgrade()
    create_resource(database, READINGS)  # as its migration would, were it a real resource
    return unmigrated_settings
