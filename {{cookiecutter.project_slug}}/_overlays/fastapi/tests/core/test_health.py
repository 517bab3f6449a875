"""Liveness and readiness probes."""

from typing import Any

import httpx2
from asgi_lifespan import LifespanManager
from pymongo import MongoClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.migrations.runner import RECORDS, Runner, discover
from {{ cookiecutter.package_name }}.core.settings import Settings
from {{ cookiecutter.package_name }}.resources import RESOURCES

from tests.mongo import unused_port


async def test_liveness_reports_uptime(client: httpx2.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["uptime_seconds"] >= 0


async def test_readiness_is_200_when_mongodb_answers(client: httpx2.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"mongodb": "ok"}}


async def test_readiness_is_503_naming_the_check_when_mongodb_is_down(
    credentials: dict[str, str],
) -> None:
    settings = Settings(
        mongo_uri=f"mongodb://127.0.0.1:{unused_port()}/?connectTimeoutMS=200",
        mongo_server_selection_timeout_ms=200,
        readiness_timeout_ms=300,
    )
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://test", headers=credentials
        ) as client:
            live = await client.get("/health/live")
            ready = await client.get("/health/ready")
            listed = [await client.get(resource.path) for resource in RESOURCES]
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.json()["checks"] == {"mongodb": "fail"}
    assert {(answer.status_code, answer.json()["title"]) for answer in listed} == {
        (503, "Service Unavailable")
    }


async def test_readiness_is_503_naming_pending_migrations_until_they_are_applied(
    unmigrated_settings: Settings,
    mongo_client: MongoClient[dict[str, Any]],
    credentials: dict[str, str],
) -> None:
    database = mongo_client[unmigrated_settings.mongo_database]
    ids = [migration.id for migration in discover()]
    app = create_app(unmigrated_settings)
    async with LifespanManager(app) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://test", headers=credentials
        ) as client:
            pending = await client.get("/health/ready")
            Runner(database).upgrade()
            applied = await client.get("/health/ready")
            database[RECORDS].drop()  # read no more once applied: still ready
            cached = await client.get("/health/ready")
    assert pending.status_code == 503
    assert pending.headers["content-type"] == "application/problem+json"
    assert pending.json()["checks"] == {"migrations": "fail"}
    assert pending.json()["migrations"] == dict.fromkeys(ids, "pending")
    assert f"{ids[0]} (pending)" in pending.json()["detail"]
    assert (applied.status_code, cached.status_code) == (200, 200)


async def test_readiness_names_the_state_of_each_migration_not_done(
    unmigrated_settings: Settings,
    mongo_client: MongoClient[dict[str, Any]],
    credentials: dict[str, str],
) -> None:
    database = mongo_client[unmigrated_settings.mongo_database]
    first, second, *_ = discover()
    Runner(database).upgrade()
    database[RECORDS].update_one({"_id": second.id}, {"$set": {"state": "pending"}})
    app = create_app(unmigrated_settings)
    async with LifespanManager(app) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://test", headers=credentials
        ) as client:
            answers = {}
            for state, changes in [
                ("running", {"state": "running"}),
                ("failed", {"state": "failed"}),
                ("changed", {"state": "done", "checksum": "edited since"}),
            ]:
                database[RECORDS].update_one({"_id": second.id}, {"$set": changes})
                answers[state] = (await client.get("/health/ready")).json()
            database[RECORDS].update_one({"_id": first.id}, {"$set": {"state": "failed"}})
            both = (await client.get("/health/ready")).json()
    for state, body in answers.items():
        assert body["migrations"] == {second.id: state}, body
        assert f"{second.id} ({state})" in body["detail"]
    assert both["migrations"] == {first.id: "failed", second.id: "changed"}


async def test_readiness_ignores_migrations_when_told_to(
    unmigrated_settings: Settings, credentials: dict[str, str]
) -> None:
    settings = unmigrated_settings.model_copy(update={"ready_requires_migrations": False})
    async with LifespanManager(create_app(settings)) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://test", headers=credentials
        ) as client:
            assert (await client.get("/health/ready")).status_code == 200
