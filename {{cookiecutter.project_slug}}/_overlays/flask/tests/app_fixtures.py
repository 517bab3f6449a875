"""App fixtures for Flask: the app, its test client, resources."""

import dataclasses
from collections.abc import Iterator
from typing import cast

import pytest
from flask.testing import FlaskClient
from flask_openapi.blueprint import APIBlueprint
from flask_openapi.openapi import OpenAPI

from {{ cookiecutter.package_name }} import db
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.registry import RESOURCES
from {{ cookiecutter.package_name }}.resources import Repository, Resource
from {{ cookiecutter.package_name }}.settings import Settings


@pytest.fixture
def app(settings: Settings) -> Iterator[OpenAPI]:
    """Return a new app for the test's database (migrated); close its client afterwards."""
    application = create_app(settings)
    yield application
    db.close_client(application.extensions["mongo_client"])


@pytest.fixture
def client(app: OpenAPI, credentials: dict[str, str]) -> FlaskClient:
    """Return Flask's test client for the app, sending `credentials` with every request."""
    return client_for(app, credentials)


def client_for(app: OpenAPI, credentials: dict[str, str]) -> FlaskClient:
    """Return a test client of `app` that sends the headers `credentials` with every request."""
    test_client = app.test_client()
    for name, value in credentials.items():
        test_client.environ_base["HTTP_" + name.upper().replace("-", "_")] = value
    return test_client


@pytest.fixture
def second_resource() -> Resource:
    """Return a second resource: the first one's code on collection "copies", without routes.

    Its repository class is a subclass of the first's, so the app keeps the two apart.
    """
    first = RESOURCES[0]
    repository = cast(type[Repository], type("CopyRepository", (first.repository,), {}))
    return dataclasses.replace(
        first,
        name="copy",
        collection="copies",
        repository=repository,
        blueprint=APIBlueprint("copies", __name__),
    )
