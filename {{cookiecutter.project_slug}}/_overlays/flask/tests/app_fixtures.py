"""App fixtures for Flask: the app, its test client, a repository."""

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from flask_openapi.openapi import OpenAPI

from {{ cookiecutter.package_name }} import db
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.documents import COLLECTION
from {{ cookiecutter.package_name }}.repository import ItemRepository
from {{ cookiecutter.package_name }}.settings import Settings


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
    repo = ItemRepository(
        mongo_client[settings.mongo_database][COLLECTION],
        key_lease_ms=settings.idempotency_lease_ms,
        key_retention_s=settings.idempotency_retention_seconds,
    )
    repo.ensure_indexes()
    yield repo
    db.close_client(mongo_client)
