"""App fixtures for Flask: the app, its test client, and the shared tests' client."""

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from flask.testing import FlaskClient
from flask_openapi.openapi import OpenAPI
from werkzeug.test import TestResponse

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core import db
from {{ cookiecutter.package_name }}.core.settings import Settings

from tests.shapes import SERVED


@pytest.fixture
def app(settings: Settings) -> Iterator[OpenAPI]:
    """Return a new app for the test's database (migrated), serving the tests' resources.

    Its MongoDB client is closed afterwards.
    """
    application = create_app(settings, resources=SERVED)
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


class Reply:
    """A Flask test response with `tests.http.Reply`'s names (`json()`, `text`, `content`)."""

    def __init__(self, response: TestResponse) -> None:
        """Wrap `response`."""
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers

    @property
    def text(self) -> str:
        """The body as text."""
        return self.response.get_data(as_text=True)

    @property
    def content(self) -> bytes:
        """The body as bytes."""
        return self.response.get_data()

    def json(self) -> Any:
        """The body parsed as JSON."""
        return self.response.get_json(force=True)


class Http:
    """Flask's test client with `tests.http.Http`'s calls (`params` for the query)."""

    def __init__(self, client: FlaskClient) -> None:
        """Send every request through `client`."""
        self.client = client

    def get(self, url: str, *, params: Mapping[str, Any] | None = None, **options: Any) -> Reply:
        """Send a GET with `params` as the query string."""
        return Reply(self.client.get(url, query_string=params, **options))

    def post(self, url: str, *, content: bytes | None = None, **options: Any) -> Reply:
        """Send a POST (`json=` or raw `content=`)."""
        return Reply(self.client.post(url, data=content, **options))

    def put(self, url: str, *, content: bytes | None = None, **options: Any) -> Reply:
        """Send a PUT (`json=` or raw `content=`)."""
        return Reply(self.client.put(url, data=content, **options))

    def patch(self, url: str, *, content: bytes | None = None, **options: Any) -> Reply:
        """Send a PATCH (`json=` or raw `content=`)."""
        return Reply(self.client.patch(url, data=content, **options))

    def delete(self, url: str, **options: Any) -> Reply:
        """Send a DELETE."""
        return Reply(self.client.delete(url, **options))


@pytest.fixture
def http(client: FlaskClient) -> Http:
    """Return the shared tests' client (`tests.http.Http`) over Flask's test client."""
    return Http(client)
