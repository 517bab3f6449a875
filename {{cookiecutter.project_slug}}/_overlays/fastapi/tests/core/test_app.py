"""App-wide behaviour: resources, problem details, limits, headers, request ids, CORS, docs."""

import json
import re
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo import MongoClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.crud import Resource
from {{ cookiecutter.package_name }}.core.settings import Settings
from {{ cookiecutter.package_name }}.resources import RESOURCES

from tests.shapes import READINGS, SHAPES

EXAMPLE = SHAPES[0]  # the first registered resource
ITEMS = EXAMPLE.resource.path
ITEM = EXAMPLE.resource.one_path


def test_resources_sharing_a_plural_or_a_collection_are_refused(settings: Settings) -> None:
    first = RESOURCES[0]
    again = Resource(READINGS.fields, plural=first.plural)
    with pytest.raises(ValueError, match=f"share the plural '{first.plural}'"):
        create_app(settings, [first, again])


async def test_start_up_leaves_the_schema_to_migrations(
    unmigrated_settings: Settings, mongo_client: MongoClient[dict[str, Any]]
) -> None:
    app = create_app(unmigrated_settings)
    async with LifespanManager(app):
        pass
    assert mongo_client[unmigrated_settings.mongo_database].list_collection_names() == []


async def test_unknown_route_is_404_problem(client: httpx2.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No route matches /nope.",
        "instance": "/nope",
    }


async def test_wrong_method_is_405_listing_every_allowed_method(
    client: httpx2.AsyncClient,
) -> None:
    response = await client.delete(ITEMS)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert response.json()["status"] == 405


async def test_malformed_json_is_400(client: httpx2.AsyncClient) -> None:
    response = await client.post(
        ITEMS, content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["title"] == "Bad Request"


async def test_non_json_body_is_415(client: httpx2.AsyncClient) -> None:
    response = await client.post(ITEMS, content=b"name=x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


async def test_body_over_limit_is_413(settings: Settings, credentials: dict[str, str]) -> None:
    small_body = EXAMPLE.body()
    limit = len(json.dumps(small_body)) + 10  # room for the small body, not the large one
    app = create_app(settings.model_copy(update={"max_body_bytes": limit}))
    async with LifespanManager(app) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://test", headers=credentials
        ) as client:
            response = await client.post(
                ITEMS,
                content=b'{"x": "' + b"x" * limit + b'"}',
                headers={"Content-Type": "application/json"},
            )
            small = await client.post(ITEMS, json=small_body)
    assert response.status_code == 413
    assert response.json()["title"] == "Content Too Large"
    assert small.status_code == 201


async def test_unexpected_error_is_500_without_internals(
    app: FastAPI, credentials: dict[str, str]
) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with LifespanManager(app) as manager:
        transport = httpx2.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://test", headers=credentials
        ) as client:
            response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["x-request-id"]


async def test_every_response_has_nosniff_and_a_request_id(client: httpx2.AsyncClient) -> None:
    for response in (await client.get("/health/live"), await client.get("/nope")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert len(response.headers["x-request-id"]) >= 16


async def test_sane_client_request_id_is_echoed_and_logged(
    client: httpx2.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await client.get(ITEMS, headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    access = [line for line in lines if line.get("logger") == "access"]
    assert access
    assert access[-1]["request_id"] == "abc-123"
    assert access[-1]["status"] == 200
    assert {"method", "path", "duration_ms", "timestamp", "level"} <= set(access[-1])


async def test_probes_are_logged_only_when_access_log_probes_is_set(
    settings: Settings, credentials: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    logged: dict[bool, set[str]] = {}
    for probes in (False, True):
        app = create_app(settings.model_copy(update={"access_log_probes": probes}))
        async with LifespanManager(app) as manager:
            transport = httpx2.ASGITransport(app=manager.app)
            async with httpx2.AsyncClient(
                transport=transport, base_url="http://test", headers=credentials
            ) as client:
                for path in ("/health/live", "/metrics", ITEMS):
                    assert (await client.get(path)).status_code == 200
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        logged[probes] = {line["path"] for line in lines if line.get("logger") == "access"}
    assert logged == {False: {ITEMS}, True: {"/health/live", "/metrics", ITEMS}}


async def test_insane_client_request_id_is_replaced(client: httpx2.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "a b{}" * 10})
    assert response.headers["x-request-id"] != "a b{}" * 10


async def test_cors_is_closed_by_default(client: httpx2.AsyncClient) -> None:
    response = await client.get(ITEMS, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_allows_configured_origins(
    settings: Settings, credentials: dict[str, str]
) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://app.example"]}))
    async with LifespanManager(app) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://test", headers=credentials
        ) as client:
            response = await client.get(ITEMS, headers={"Origin": "https://app.example"})
    assert response.headers["access-control-allow-origin"] == "https://app.example"


async def test_openapi_documents_every_route_and_problem_responses(
    client: httpx2.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    assert set(paths) >= {ITEMS, ITEM, "/health/live", "/health/ready"}
    assert set(paths[ITEM]) == {"get", "put", "patch", "delete"}
    not_found = paths[ITEM]["get"]["responses"]["404"]
    assert "application/problem+json" in not_found["content"]


async def test_docs_page_loads_its_assets_from_the_app(client: httpx2.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
    links = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert any(link.endswith(".js") for link in links)
    for link in links:
        assert "//" not in link, link
        assert (await client.get(f"/{link}")).status_code == 200, link


async def test_head_is_answered_wherever_get_is(client: httpx2.AsyncClient) -> None:
    for path in ("/health/live", ITEMS, "/docs"):
        response = await client.head(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == (await client.get(path)).headers["content-type"]


async def test_trailing_slash_is_404_not_a_redirect(client: httpx2.AsyncClient) -> None:
    response = await client.get(f"{ITEMS}/", headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert "location" not in response.headers
