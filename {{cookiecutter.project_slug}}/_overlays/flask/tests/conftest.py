"""Fixtures: a MongoDB server per session, a fresh database per test, the app and its client."""

import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from flask.testing import FlaskClient
from flask_openapi.openapi import OpenAPI
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
def app(settings: Settings) -> Iterator[OpenAPI]:
    """Return a new app for the test's database; close its MongoDB client afterwards."""
    application = create_app(settings)
    yield application
    db.close_client(application.extensions["mongo_client"])


@pytest.fixture
def client(app: OpenAPI) -> FlaskClient:
    """Return Flask's test client for the app."""
    return app.test_client()


@pytest.fixture
def repository(settings: Settings) -> Iterator[ItemRepository]:
    """Yield a repository on the test's database, indexes created."""
    mongo_client = db.create_client(settings)
    repo = ItemRepository(mongo_client[settings.mongo_database][COLLECTION])
    repo.ensure_indexes()
    yield repo
    db.close_client(mongo_client)
