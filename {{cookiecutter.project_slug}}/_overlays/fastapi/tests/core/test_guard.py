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
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_forged_credentials_get_a_401_problem_never_a_500(
    app: FastAPI, forged_credentials: st.SearchStrategy[dict[str, str]]
) -> None:
    """Whatever credentials a caller makes up, the answer is a 401 problem (open: a 200).

    `forged_credentials` (tests/access_fixtures.py) draws them for the access mode:
    bearer tokens with JOSE headers of every shape and signatures nobody made, made-up or
    disabled API keys, anything at all (the open policy: nothing reads them).
    """
    policy = app.state.policy
    with TestClient(app) as http:

        @settings(max_examples=150, deadline=None, derandomize=True, database=None)
        @given(headers=forged_credentials)
        def answered(headers: dict[str, str]) -> None:
            response = http.get(ITEMS, headers=headers)
            if policy.open:
                assert response.status_code == 200
                return
            assert response.status_code == 401, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 401
            assert 'error="invalid_' in response.headers["www-authenticate"]
            assert response.headers["cache-control"] == "no-store"

        answered()


async def test_protected_answers_say_no_store(
    app: FastAPI, anonymous: httpx2.AsyncClient, credentials: dict[str, str]
) -> None:
    answers = {
        "refused": await anonymous.get(ITEMS),
        "served": await anonymous.get(ITEMS, headers=credentials),
        "not found": await anonymous.get(f"{ITEMS}/{'0' * 24}", headers=credentials),
        "invalid": await anonymous.get(f"{ITEMS}?limit=x", headers=credentials),
    }
    statuses = {name: response.status_code for name, response in answers.items()}
    stored = {name: response.headers.get("cache-control") for name, response in answers.items()}
    assert "cache-control" not in (await anonymous.get("/health/live")).headers
    if app.state.policy.open:
        assert statuses == {"refused": 200, "served": 200, "not found": 404, "invalid": 422}
        assert stored == dict.fromkeys(answers)
        return
    assert statuses == {"refused": 401, "served": 200, "not found": 404, "invalid": 422}
    assert stored == dict.fromkeys(answers, "no-store")


@pytest.mark.parametrize("query", ["apikey=x", "api_key=x", "access_token=x"])
async def test_credentials_in_the_url_are_refused_before_the_query_is_checked(
    app: FastAPI, anonymous: httpx2.AsyncClient, credentials: dict[str, str], query: str
) -> None:
    response = await anonymous.get(f"{ITEMS}?{query}", headers=credentials)
    if app.state.policy.open:
        assert response.status_code == 422  # an unknown query parameter
        return
    assert response.status_code == 401
    assert 'error="invalid_request"' in response.headers["www-authenticate"]
    assert "never in the URL" in response.json()["detail"]
