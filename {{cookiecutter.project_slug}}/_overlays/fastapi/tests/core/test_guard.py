"""The access guard over HTTP: resource routes need credentials and scopes; probes do not.

Written once for every access mode: with the open policy (`auth=none`) each protected
route answers as if no guard were there.
"""

import json
from collections.abc import AsyncIterator, Callable

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.core.guard import resource_scopes
from {{ cookiecutter.package_name }}.resources import RESOURCES

from tests.shapes import SHAPES

EXAMPLE = SHAPES[0]  # the first registered resource
ITEMS = EXAMPLE.resource.path


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    """Yield a client of the app that sends no credentials."""
    async with LifespanManager(app) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_resource_routes_need_credentials(
    app: FastAPI, anonymous: httpx2.AsyncClient
) -> None:
    response = await anonymous.post(
        ITEMS, content=b"not json", headers={"Content-Type": "text/plain"}
    )
    if app.state.policy.open:
        assert response.status_code == 415
        return
    assert response.status_code == 401  # before the body is looked at
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Unauthorized"
    assert response.headers["www-authenticate"].endswith('realm="{{ cookiecutter.project_slug }}"')


async def test_probes_and_docs_stay_open(anonymous: httpx2.AsyncClient) -> None:
    for path in ("/health/live", "/health/ready", "/metrics", "/openapi.json", "/docs"):
        assert (await anonymous.get(path)).status_code == 200, path


async def test_read_scope_reads_but_does_not_write(
    app: FastAPI, anonymous: httpx2.AsyncClient, credentials_for: Callable[..., dict[str, str]]
) -> None:
    read, write = resource_scopes(app.state.policy, RESOURCES[0])
    headers = credentials_for(read)
    assert (await anonymous.get(ITEMS, headers=headers)).status_code == 200
    response = await anonymous.post(ITEMS, json=EXAMPLE.body(), headers=headers)
    if app.state.policy.open:
        assert response.status_code == 201
        return
    assert response.status_code == 403
    assert f'scope="{write}"' in response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_access_log_names_the_caller(
    app: FastAPI, client: httpx2.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert (await client.get(ITEMS)).status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    access = [line for line in lines if line.get("logger") == "access"][-1]
    assert ("subject" in access) is not app.state.policy.open


async def test_openapi_declares_the_scheme_and_each_scope(
    app: FastAPI, client: httpx2.AsyncClient
) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"][ITEMS]["post"]
    if app.state.policy.open:
        assert "securitySchemes" not in document["components"]
        assert "security" not in operation
        return
    read, write = resource_scopes(app.state.policy, RESOURCES[0])
    (scheme,) = document["components"]["securitySchemes"]
    assert operation["security"] == [{scheme: [write]}]
    assert document["paths"][ITEMS]["get"]["security"] == [{scheme: [read]}]
    assert {"401", "403"} <= set(operation["responses"])
    assert "security" not in document["paths"]["/health/live"]["get"]
