"""App-wide behaviour: resources, problem details, limits, headers, request ids, CORS, docs."""

import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from flask_openapi.openapi import OpenAPI
from pymongo import MongoClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core import db
from {{ cookiecutter.package_name }}.core.crud import Resource
from {{ cookiecutter.package_name }}.core.settings import Settings
from {{ cookiecutter.package_name }}.resources import RESOURCES

from tests.app_fixtures import client_for
from tests.shapes import READINGS, SHAPES

EXAMPLE = SHAPES[0]  # the first registered resource
ITEMS = EXAMPLE.resource.path
ITEM = EXAMPLE.resource.one_path


def test_resources_sharing_a_plural_or_a_collection_are_refused(settings: Settings) -> None:
    first = RESOURCES[0]
    again = Resource(READINGS.fields, plural=first.plural)
    with pytest.raises(ValueError, match=f"share the plural '{first.plural}'"):
        create_app(settings, [first, again])


def test_start_up_leaves_the_schema_to_migrations(
    unmigrated_settings: Settings, mongo_client: MongoClient[dict[str, Any]]
) -> None:
    app = create_app(unmigrated_settings)
    db.close_client(app.extensions["mongo_client"])
    assert mongo_client[unmigrated_settings.mongo_database].list_collection_names() == []


def test_unknown_route_is_404_problem(client: FlaskClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.get_json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No route matches /nope.",
        "instance": "/nope",
    }


def test_wrong_method_is_405_listing_every_allowed_method(
    client: FlaskClient,
) -> None:
    response = client.delete(ITEMS)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert response.get_json()["status"] == 405


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post(ITEMS, data=b'{"name": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["title"] == "Bad Request"


def test_non_json_body_is_415(client: FlaskClient) -> None:
    response = client.post(ITEMS, data=b"name=x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_body_over_limit_is_413(settings: Settings, credentials: dict[str, str]) -> None:
    small_body = EXAMPLE.body()
    limit = len(json.dumps(small_body)) + 10  # room for the small body, not the large one
    app = create_app(settings.model_copy(update={"max_body_bytes": limit}))
    client = client_for(app, credentials)
    response = client.post(
        ITEMS, data=b'{"x": "' + b"x" * limit + b'"}', headers={"Content-Type": "application/json"}
    )
    small = client.post(ITEMS, json=small_body)
    assert response.status_code == 413
    assert response.get_json()["title"] == "Content Too Large"
    assert small.status_code == 201


def test_unexpected_error_is_500_without_internals(
    app: OpenAPI, credentials: dict[str, str]
) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    client = client_for(app, credentials)
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["x-request-id"]


def test_every_response_has_nosniff_and_a_request_id(client: FlaskClient) -> None:
    for response in (client.get("/health/live"), client.get("/nope")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert len(response.headers["x-request-id"]) >= 16


def test_sane_client_request_id_is_echoed_and_logged(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = client.get(ITEMS, headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    access = [line for line in lines if line.get("logger") == "access"]
    assert access
    assert access[-1]["request_id"] == "abc-123"
    assert access[-1]["status"] == 200
    assert {"method", "path", "duration_ms", "timestamp", "level"} <= set(access[-1])


def test_probes_are_logged_only_when_access_log_probes_is_set(
    settings: Settings, credentials: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    logged: dict[bool, set[str]] = {}
    for probes in (False, True):
        app = create_app(settings.model_copy(update={"access_log_probes": probes}))
        client = client_for(app, credentials)
        for path in ("/health/live", "/metrics", ITEMS):
            assert client.get(path).status_code == 200
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        logged[probes] = {line["path"] for line in lines if line.get("logger") == "access"}
    assert logged == {False: {ITEMS}, True: {"/health/live", "/metrics", ITEMS}}


def test_insane_client_request_id_is_replaced(client: FlaskClient) -> None:
    response = client.get("/health/live", headers={"X-Request-ID": "a b{}" * 10})
    assert response.headers["x-request-id"] != "a b{}" * 10


def test_cors_is_closed_by_default(client: FlaskClient) -> None:
    response = client.get(ITEMS, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_configured_origins(settings: Settings, credentials: dict[str, str]) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://app.example"]}))
    client = client_for(app, credentials)
    response = client.get(ITEMS, headers={"Origin": "https://app.example"})
    assert response.headers["access-control-allow-origin"] == "https://app.example"


def test_openapi_documents_every_route_and_problem_responses(
    client: FlaskClient,
) -> None:
    document = (client.get("/openapi.json")).get_json()
    paths = document["paths"]
    assert set(paths) >= {ITEMS, ITEM, "/health/live", "/health/ready"}
    assert set(paths[ITEM]) == {"get", "put", "patch", "delete"}
    not_found = paths[ITEM]["get"]["responses"]["404"]
    assert "application/problem+json" in not_found["content"]


def test_docs_page_loads_its_assets_from_the_app(client: FlaskClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
    links = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert any(link.endswith(".js") for link in links)
    for link in links:
        assert "//" not in link, link
        with client.get(f"/{link}") as asset:  # closes the file it streams
            assert asset.status_code == 200, link


def test_head_is_answered_wherever_get_is(client: FlaskClient) -> None:
    for path in ("/health/live", ITEMS, "/docs"):
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == (client.get(path)).headers["content-type"]


def test_trailing_slash_is_404_not_a_redirect(client: FlaskClient) -> None:
    response = client.get(f"{ITEMS}/", headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert "location" not in response.headers
