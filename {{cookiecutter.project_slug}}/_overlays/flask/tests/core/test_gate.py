"""The migration gate: resource routes answer 503 until every migration is applied."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from flask.testing import FlaskClient
from pymongo import MongoClient
from pymongo.database import Database
from werkzeug.test import TestResponse

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core import db as app_db
from {{ cookiecutter.package_name }}.core.gate import MigrationGate
from {{ cookiecutter.package_name }}.core.migrations.runner import RECORDS, Runner, discover
from {{ cookiecutter.package_name }}.core.migrations.states import RECHECK_S, RETRY_AFTER_S
from {{ cookiecutter.package_name }}.core.settings import Settings

from tests.app_fixtures import client_for
from tests.shapes import SHAPES

EXAMPLE = SHAPES[0]  # the first registered resource
ITEMS = EXAMPLE.resource.path
COLLECTION = EXAMPLE.resource.collection
MISSING_ID = "0123456789abcdef01234567"
PROBES = ("/health/live", "/metrics", "/docs", "/openapi.json")  # served whatever the state
Db = Database[dict[str, Any]]
Serve = Callable[[Settings], AbstractContextManager[tuple[FlaskClient, MigrationGate]]]


@pytest.fixture
def db(unmigrated_settings: Settings, mongo_client: MongoClient[dict[str, Any]]) -> Db:
    """Return the test's empty database (no migration applied)."""
    return mongo_client[unmigrated_settings.mongo_database]


@pytest.fixture
def clock() -> list[float]:
    """Return the gate's clock, in seconds, that the test moves by hand: `clock[0] += s`."""
    return [0.0]


@pytest.fixture
def serve(credentials: dict[str, str], clock: list[float]) -> Serve:
    """Return `serve(settings)`: a context yielding (client, gate) of a new app on `settings`."""

    @contextmanager
    def serve(settings: Settings) -> Iterator[tuple[FlaskClient, MigrationGate]]:
        app = create_app(settings)  # reads the records once
        gate: MigrationGate = app.extensions["migration_gate"]
        gate.clock = lambda: clock[0]
        gate.checked_at = clock[0]  # that start-up read, on the test's clock
        try:
            yield client_for(app, credentials), gate
        finally:
            app_db.close_client(app.extensions["mongo_client"])

    return serve


def assert_held(response: TestResponse, states: dict[str, str]) -> None:
    """Check that `response` is the gate's 503, naming `states`, with `Retry-After`."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    body = response.get_json()
    assert body["migrations"] == states
    assert "retry later" in body["detail"]


def test_resource_routes_answer_503_while_migrations_are_pending_and_serve_once_applied(
    unmigrated_settings: Settings, db: Db, serve: Serve, clock: list[float]
) -> None:
    pending = {migration.id: "pending" for migration in discover()}
    with serve(unmigrated_settings) as (client, gate):
        held = [
            client.post(ITEMS, json=EXAMPLE.body()),
            client.post(ITEMS, json=EXAMPLE.body()),
            client.get(ITEMS),
            client.head(ITEMS),
            client.get(f"{ITEMS}/{MISSING_ID}"),
            client.patch(f"{ITEMS}/{MISSING_ID}", json=EXAMPLE.change),
            client.delete(f"{ITEMS}/{MISSING_ID}"),
        ]
        probes = [client.get(path) for path in PROBES]
        metrics_text = probes[1].text
        Runner(db).upgrade()
        within_a_second = client.post(ITEMS, json=EXAMPLE.body())  # no read yet
        clock[0] += RECHECK_S
        served = client.post(ITEMS, json=EXAMPLE.body())
        db[RECORDS].drop()  # never read again once every migration was read done
        clock[0] += 10 * RECHECK_S
        still_served = client.get(ITEMS)
    for response in held:
        if response.request.method == "HEAD":  # no body
            assert response.status_code == 503
            assert response.headers["retry-after"] == str(RETRY_AFTER_S)
        else:
            assert_held(response, pending)
    assert [probe.status_code for probe in probes] == [200, 200, 200, 200]
    # Labelled by the route held, as served requests are.
    held_count = 'http_requests_total{method="POST",route="' + ITEMS + '",status="503"} 2.0'
    assert held_count in metrics_text
    assert_held(within_a_second, pending)  # as last read
    assert (served.status_code, still_served.status_code) == (201, 200)
    stored = [doc["_id"] for doc in db[COLLECTION].find()]
    assert len(stored) == 1  # nothing held was stored, only the request served after
    assert gate.open


def test_the_gate_names_a_running_or_failed_migration_and_an_unknown_path_is_404(
    unmigrated_settings: Settings, db: Db, serve: Serve, clock: list[float]
) -> None:
    second = discover()[1]
    Runner(db).upgrade()
    db[RECORDS].update_one({"_id": second.id}, {"$set": {"state": "running"}})
    with serve(unmigrated_settings) as (client, _):
        running = client.get(ITEMS)
        db[RECORDS].update_one({"_id": second.id}, {"$set": {"state": "failed"}})
        clock[0] += RECHECK_S
        failed = client.get(ITEMS)
        unknown = client.get(f"{ITEMS}/{MISSING_ID}/nowhere")
    assert_held(running, {second.id: "running"})
    assert_held(failed, {second.id: "failed"})
    assert unknown.status_code == 404


def test_the_gate_reads_the_records_at_most_once_per_recheck_interval(
    unmigrated_settings: Settings, db: Db, serve: Serve, clock: list[float]
) -> None:
    reads = 0
    with serve(unmigrated_settings) as (client, gate):
        read = gate.read

        def counted() -> dict[str, str]:
            nonlocal reads
            reads += 1
            return read()

        gate.read = counted  # type: ignore[method-assign]
        for _ in range(20):
            assert client.get(ITEMS).status_code == 503
        clock[0] += RECHECK_S
        for _ in range(20):
            assert client.get(ITEMS).status_code == 503
    assert reads == 1  # 40 requests, one read: after the interval (the start-up read came first)


def test_the_gate_is_off_with_ready_requires_migrations_false(
    unmigrated_settings: Settings, serve: Serve
) -> None:
    """Off: a write goes through to a collection without its validator and indexes."""
    settings = unmigrated_settings.model_copy(update={"ready_requires_migrations": False})
    with serve(settings) as (client, gate):
        assert gate.open
        assert client.post(ITEMS, json=EXAMPLE.body()).status_code == 201
