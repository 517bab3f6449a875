"""The MongoDB server the tests run against, chosen once per test session.

Order: `TEST_MONGO_URI` if set (CI service containers); else a Docker engine if one
answers (testcontainers, `mongo:8.0`); else an embedded SecantusDB server (a
MongoDB wire-protocol server in Python, from the dev dependencies). Never a mock.
"""

import contextlib
import gc
import os
import socket
import tempfile
import time
import warnings
from collections.abc import Iterator
from typing import Any

from pymongo import MongoClient

MONGO_IMAGE = "mongo:8.0"


def choose_backend() -> str:
    """Return which server the session will use: "uri", "docker" or "embedded"."""
    if os.environ.get("TEST_MONGO_URI"):
        return "uri"
    if _docker_answers():
        return "docker"
    return "embedded"


def describe(backend: str) -> str:
    """Return the pytest header line for `backend`."""
    return {
        "uri": "mongo: TEST_MONGO_URI",
        "docker": f"mongo: testcontainers {MONGO_IMAGE}",
        "embedded": "mongo: embedded SecantusDB (no Docker engine answered)",
    }[backend]


def _docker_answers() -> bool:
    """Return True when a Docker engine answers a ping within 3 s (honours DOCKER_HOST)."""
    if not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock"):
        return False
    # docker-py leaks its socket when the engine refuses; collect it quietly here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            from testcontainers.core.docker_client import DockerClient

            docker = DockerClient(timeout=3).client
            try:
                return bool(docker.ping())
            finally:
                docker.close()
        except Exception:
            return False
        finally:
            gc.collect()


@contextlib.contextmanager
def mongo_uri(backend: str) -> Iterator[str]:
    """Yield a connection URI for `backend`; stop the server afterwards."""
    if backend == "uri":
        yield os.environ["TEST_MONGO_URI"]
    elif backend == "docker":
        with _container() as uri:
            yield uri
    else:
        from secantus import SecantusDBServer

        with (
            tempfile.TemporaryDirectory() as storage,
            SecantusDBServer(storage_path=storage) as server,
        ):
            # SecantusDB's retryable-write bookkeeping slows long runs down.
            yield f"{server.uri.rstrip('/')}/?retryWrites=false"


@contextlib.contextmanager
def _container() -> Iterator[str]:
    """Run `mongo:8.0` with testcontainers and wait until it really serves.

    The image starts a temporary server first (testcontainers-python #1122): wait
    for its second "Waiting for connections" line, then ping with retries.
    """
    from testcontainers.community.mongodb import MongoDbContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    container = MongoDbContainer(MONGO_IMAGE).waiting_for(
        LogMessageWaitStrategy("Waiting for connections", times=2).with_startup_timeout(60)
    )
    with container:
        uri = str(container.get_connection_url())
        _ping_until_ready(uri, timeout=30)
        yield uri


def _ping_until_ready(uri: str, timeout: float) -> None:
    """Ping `uri` until it answers; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client: MongoClient[dict[str, Any]]
            with MongoClient(uri, serverSelectionTimeoutMS=1000) as client:
                client.admin.command("ping")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise TimeoutError(f"MongoDB not ready after {timeout} s") from None
            time.sleep(0.5)


def unused_port() -> int:
    """Return a loopback TCP port nothing listens on (for "database down" tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
