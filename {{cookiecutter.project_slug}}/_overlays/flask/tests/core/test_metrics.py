"""Prometheus metrics at /metrics, labelled by route template."""

from flask.testing import FlaskClient

from tests.items.builders import item_body


def test_metrics_count_requests_by_route_template(client: FlaskClient) -> None:
    created = (client.post("/api/v1/items", json=item_body())).get_json()
    for _ in range(3):
        client.get(f"/api/v1/items/{created['id']}")
    client.get("/nope")
    text = (client.get("/metrics")).text
    assert (
        'http_requests_total{method="GET",route="/api/v1/items/{item_id}",status="200"} 3.0' in text
    )
    assert 'http_requests_total{method="POST",route="/api/v1/items",status="201"} 1.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "http_request_duration_seconds_bucket" in text


def test_metrics_exclude_the_metrics_route(client: FlaskClient) -> None:
    client.get("/metrics")
    text = (client.get("/metrics")).text
    assert 'route="/metrics"' not in text
