"""How long one MongoDB call may take (`timeouts.call_timeout`), against real clients."""

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.uri_parser import parse_uri

from {{ cookiecutter.package_name }}.core.settings import Settings
from {{ cookiecutter.package_name }}.core.timeouts import AUTHENTICATION_FAILED, call_timeout

from tests.mongo import unused_port

Client = MongoClient[dict[str, Any]]


def make_client(uri: str, *, selection_ms: int, timeout_ms: int) -> Client:
    """Return a client built as the service builds its own (settings' options)."""
    settings = Settings(
        mongo_uri=uri,
        mongo_server_selection_timeout_ms=selection_ms,
        mongo_timeout_ms=timeout_ms,
    )
    return MongoClient(uri, **settings.mongo_client_options())


def test_a_call_gets_timeout_ms_while_the_server_is_up(mongo_uri: str) -> None:
    with make_client(mongo_uri, selection_ms=300, timeout_ms=2500) as client:
        client.admin.command("ping")
        assert call_timeout(client) == 2.5
        assert call_timeout(client, limit_s=1.0) == 1.0


def test_a_call_gets_the_server_selection_timeout_while_no_server_is_up() -> None:
    uri = f"mongodb://127.0.0.1:{unused_port()}/"
    with make_client(uri, selection_ms=300, timeout_ms=2500) as client:
        assert call_timeout(client) == 0.3
        start = time.monotonic()
        with pytest.raises(PyMongoError), pymongo.timeout(call_timeout(client)):
            client.admin.command("ping")
        # pymongo's server-selection loop wakes every 0.5 s: without the bound, 2.5 s.
        assert time.monotonic() - start < 1.2
    with make_client(uri, selection_ms=3000, timeout_ms=1000) as client:
        assert call_timeout(client) == 1.0


@pytest.fixture
def wrong_password_uri(mongo_uri: str) -> Iterator[str]:
    """Create a user on the test server; yield a URI with a wrong password for it."""
    user = f"svc_{uuid.uuid4().hex[:8]}"
    client: Client
    with MongoClient(mongo_uri) as client:
        client.admin.command("createUser", user, pwd=uuid.uuid4().hex, roles=["readWrite"])
        host, port = parse_uri(mongo_uri)["nodelist"][0]
        yield f"mongodb://{user}:wrong-password@{host}:{port}/?authSource=admin"
        client.admin.command("dropUser", user)


def test_a_refused_password_is_raised_again_at_once(wrong_password_uri: str) -> None:
    with make_client(wrong_password_uri, selection_ms=2000, timeout_ms=5000) as client:
        with pytest.raises(OperationFailure) as first:
            client.admin.command("ping")
        assert first.value.code == AUTHENTICATION_FAILED
        start = time.monotonic()
        with pytest.raises(OperationFailure) as again:
            call_timeout(client)
        assert again.value.code == AUTHENTICATION_FAILED
        assert again.value is not first.value
        assert time.monotonic() - start < 0.1
