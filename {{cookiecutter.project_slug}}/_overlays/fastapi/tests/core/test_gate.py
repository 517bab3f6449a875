"""The migration gate: resource routes answer 503 until every migration is applied."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo import MongoClient
from pymongo.database import Database

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.gate import MigrationGate
from {{ cookiecutter.package_name }}.core.migrations.runner import RECORDS, Runner, discover
from {{ cookiecutter.package_name }}.core.migrations.states import RECHECK_S, RETRY_AFTER_S
from {{ cookiecutter.package_name }}.core.settings import Settings

from tests.shapes import SHAPES

EXAMPLE = SHAPES[0]  # the first registered resource
ITEMS = EXAMPLE.resource.path
COLLECTION = EXAMPLE.resource.collection
MISSING_ID = "0123456789abcdef01234567"
PROBES = ("/health/live", "/metrics", "/docs", "/openapi.json")  # served whatever the state
Db = Database[dict[str, Any]]
Serve = Callable[[Settings], AbstractAsyncContextManager[tuple[httpx2.AsyncClient, MigrationGate]]]


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

    @asynccontextmanager
    async def serve(settings: Settings) -> AsyncIterator[tuple[httpx2.AsyncClient, MigrationGate]]:
        app: FastAPI = create_app(settings)
        gate: MigrationGate = app.state.gate
        gate.clock = lambda: clock[0]
        async with LifespanManager(app) as manager:
            transport = httpx2.ASGITransport(app=manager.app)
            async with httpx2.AsyncClient(
                transport=transport, base_url="http://test", headers=credentials
            ) as client:
                yield client, gate

    return serve


def assert_held(response: httpx2.Response, states: dict[str, str]) -> None:
    """Check that `response` is the gate's 503, naming `states`, with `Retry-After`."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    body = response.json()
    assert body["migrations"] == states
    assert "retry later" in body["detail"]


async def test_resource_routes_answer_503_while_migrations_are_pending_and_serve_once_applied(
    unmigrated_settings: Settings, db: Db, serve: Serve, clock: list[float]
) -> None:
    pending = {migration.id: "pending" for migration in discover()}
    async with serve(unmigrated_settings) as (client, gate):
        held = [
            await client.post(ITEMS, json=EXAMPLE.body()),
            await client.post(ITEMS, json=EXAMPLE.body()),
            await client.get(ITEMS),
            await client.head(ITEMS),
            await client.get(f"{ITEMS}/{MISSING_ID}"),
            await client.patch(f"{ITEMS}/{MISSING_ID}", json=EXAMPLE.change),
            await client.delete(f"{ITEMS}/{MISSING_ID}"),
        ]
        probes = [await client.get(path) for path in PROBES]
        metrics_text = probes[1].text
        Runner(db).upgrade()
        within_a_second = await client.post(ITEMS, json=EXAMPLE.body())  # no read yet
        clock[0] += RECHECK_S
        served = await client.post(ITEMS, json=EXAMPLE.body())
        db[RECORDS].drop()  # never read again once every migration was read done
        clock[0] += 10 * RECHECK_S
        still_served = await client.get(ITEMS)
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


async def test_the_gate_names_a_running_or_failed_migration_and_an_unknown_path_is_404(
    unmigrated_settings: Settings, db: Db, serve: Serve, clock: list[float]
) -> None:
    second = discover()[1]
    Runner(db).upgrade()
    db[RECORDS].update_one({"_id": second.id}, {"$set": {"state": "running"}})
    async with serve(unmigrated_settings) as (client, _):
        running = await client.get(ITEMS)
        db[RECORDS].update_one({"_id": second.id}, {"$set": {"state": "failed"}})
        clock[0] += RECHECK_S
        failed = await client.get(ITEMS)
        unknown = await client.get(f"{ITEMS}/{MISSING_ID}/nowhere")
    assert_held(running, {second.id: "running"})
    assert_held(failed, {second.id: "failed"})
    assert unknown.status_code == 404


async def test_the_gate_reads_the_records_at_most_once_per_recheck_interval(
    unmigrated_settings: Settings, db: Db, serve: Serve, clock: list[float]
) -> None:
    reads = 0
    async with serve(unmigrated_settings) as (client, gate):
        read = gate.read

        async def counted() -> dict[str, str]:
            nonlocal reads
            reads += 1
            return await read()

        gate.read = counted  # type: ignore[method-assign]
        for _ in range(20):
            assert (await client.get(ITEMS)).status_code == 503
        clock[0] += RECHECK_S
        for _ in range(20):
            assert (await client.get(ITEMS)).status_code == 503
    assert reads == 1  # 40 requests, one read: after the interval (the start-up read came first)


async def test_the_gate_is_off_with_ready_requires_migrations_false(
    unmigrated_settings: Settings, serve: Serve
) -> None:
    """Off: a write goes through to a collection without its validator and indexes."""
    settings = unmigrated_settings.model_copy(update={"ready_requires_migrations": False})
    async with serve(settings) as (client, gate):
        assert gate.open
        assert (await client.post(ITEMS, json=EXAMPLE.body())).status_code == 201
