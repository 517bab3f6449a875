"""Liveness and readiness probes."""

from flask.testing import FlaskClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.settings import Settings
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


def test_readiness_is_503_naming_the_check_when_mongodb_is_down() -> None:
    settings = Settings(
        mongo_uri=f"mongodb://127.0.0.1:{unused_port()}/?connectTimeoutMS=200",
        mongo_server_selection_timeout_ms=200,
        readiness_timeout_ms=300,
    )
    app = create_app(settings)
    client = app.test_client()
    live = client.get("/health/live")
    ready = client.get("/health/ready")
    items = client.get("/api/v1/items")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.get_json()["checks"] == {"mongodb": "fail"}
    assert items.status_code == 503
    assert items.get_json()["title"] == "Service Unavailable"
