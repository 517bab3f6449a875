"""How long one MongoDB call may take (`timeouts.call_timeout`), against real clients.

Each timing bound is what the setting under test allows plus a margin for this machine:
`MARGIN_FACTOR` times the slowest of a few pings to the test server, timed one at a
time just before (what one call costs here right now), and `MARGIN_FLOOR_S` for a
moment when something else on the machine takes the CPU. Each test's settings leave
that margin far from the wait a broken bound would cause.
"""

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from pymongo import MongoClient
from pymongo.common import MIN_HEARTBEAT_INTERVAL
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.uri_parser import parse_uri

from {{ cookiecutter.package_name }}.core.settings import Settings
from {{ cookiecutter.package_name }}.core.timeouts import AUTHENTICATION_FAILED, call_timeout

from tests.mongo import unused_port

Client = MongoClient[dict[str, Any]]
MARGIN_FLOOR_S = 0.3
MARGIN_FACTOR = 5.0


@pytest.fixture(scope="module")
def margin(mongo_uri: str) -> float:
    """Return this machine's margin (seconds) for one MongoDB call (see the module docstring)."""
    client: Client
    with MongoClient(mongo_uri) as client:
        client.admin.command("ping")  # connected: the samples time calls, not the handshake
        slowest = 0.0
        for _ in range(5):
            start = time.monotonic()
            client.admin.command("ping")
            slowest = max(slowest, time.monotonic() - start)
    return MARGIN_FLOOR_S + MARGIN_FACTOR * slowest


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


def test_a_call_gets_the_server_selection_timeout_while_no_server_is_up(margin: float) -> None:
    uri = f"mongodb://127.0.0.1:{unused_port()}/"
    with make_client(uri, selection_ms=300, timeout_ms=10_000) as client:
        assert call_timeout(client) == 0.3
        start = time.monotonic()
        with pytest.raises(PyMongoError), pymongo.timeout(call_timeout(client)):
            client.admin.command("ping")
        # pymongo raises at the first wake of its server-selection loop after the deadline
        # (one every MIN_HEARTBEAT_INTERVAL, 0.5 s). Without the bound: 10 s.
        assert time.monotonic() - start < 0.3 + MIN_HEARTBEAT_INTERVAL + margin
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


def test_a_refused_password_is_raised_again_at_once(wrong_password_uri: str, margin: float) -> None:
    with make_client(wrong_password_uri, selection_ms=5000, timeout_ms=10_000) as client:
        with pytest.raises(OperationFailure) as first:
            client.admin.command("ping")
        assert first.value.code == AUTHENTICATION_FAILED
        start = time.monotonic()
        with pytest.raises(OperationFailure) as again:
            call_timeout(client)
        assert again.value.code == AUTHENTICATION_FAILED
        assert again.value is not first.value
        # No round trip and no wait for a server (5 s): within the margin of one call.
        assert time.monotonic() - start < margin
