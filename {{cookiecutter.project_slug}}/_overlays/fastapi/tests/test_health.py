"""Liveness and readiness probes."""

from typing import Any

import httpx2
from asgi_lifespan import LifespanManager
from pymongo import MongoClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.registry import RESOURCES
from {{ cookiecutter.package_name }}.resources import Resource
from {{ cookiecutter.package_name }}.settings import Settings
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
            items = await client.get("/api/v1/items")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.json()["checks"] == {"mongodb": "fail"}
    assert items.status_code == 503
    assert items.json()["title"] == "Service Unavailable"


async def test_readiness_is_503_while_any_resource_cannot_create_its_indexes(
    settings: Settings, second_resource: Resource, credentials: dict[str, str]
) -> None:
    """Two stored documents with one name keep the second resource's unique index out."""
    mongo: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
    with mongo:
        twins = [{"name": "twin"}, {"name": "twin"}]
        mongo[settings.mongo_database][second_resource.collection].insert_many(twins)
    app = create_app(settings, [RESOURCES[0], second_resource])
    async with LifespanManager(app) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://test", headers=credentials
        ) as client:
            ready = await client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"mongodb": "fail"}
