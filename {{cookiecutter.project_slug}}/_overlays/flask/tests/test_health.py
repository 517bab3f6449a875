"""Liveness and readiness probes."""

from typing import Any

from flask.testing import FlaskClient
from pymongo import MongoClient

from {{ cookiecutter.package_name }} import db
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.registry import RESOURCES
from {{ cookiecutter.package_name }}.resources import Resource
from {{ cookiecutter.package_name }}.settings import Settings
from tests.app_fixtures import client_for
from tests.mongo import unused_port


def test_liveness_reports_uptime(client: FlaskClient) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["uptime_seconds"] >= 0


def test_readiness_is_200_when_mongodb_answers(client: FlaskClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"mongodb": "ok"}}


def test_readiness_is_503_naming_the_check_when_mongodb_is_down(
    credentials: dict[str, str],
) -> None:
    settings = Settings(
        mongo_uri=f"mongodb://127.0.0.1:{unused_port()}/?connectTimeoutMS=200",
        mongo_server_selection_timeout_ms=200,
        readiness_timeout_ms=300,
    )
    app = create_app(settings)
    client = client_for(app, credentials)
    live = client.get("/health/live")
    ready = client.get("/health/ready")
    items = client.get("/api/v1/items")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.get_json()["checks"] == {"mongodb": "fail"}
    assert items.status_code == 503
    assert items.get_json()["title"] == "Service Unavailable"


def test_readiness_is_503_while_any_resource_cannot_create_its_indexes(
    settings: Settings, second_resource: Resource, credentials: dict[str, str]
) -> None:
    """Two stored documents with one name keep the second resource's unique index out."""
    mongo: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
    with mongo:
        twins = [{"name": "twin"}, {"name": "twin"}]
        mongo[settings.mongo_database][second_resource.collection].insert_many(twins)
    app = create_app(settings, [RESOURCES[0], second_resource])
    ready = client_for(app, credentials).get("/health/ready")
    db.close_client(app.extensions["mongo_client"])
    assert ready.status_code == 503
    assert ready.get_json()["checks"] == {"mongodb": "fail"}
