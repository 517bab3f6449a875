"""Prometheus metrics at /metrics, labelled by route template."""

from flask.testing import FlaskClient

from tests.shapes import SHAPES

EXAMPLE = SHAPES[0]  # the first registered resource


def test_metrics_count_requests_by_route_template(client: FlaskClient) -> None:
    created = (client.post(EXAMPLE.resource.path, json=EXAMPLE.body())).get_json()
    for _ in range(3):
        client.get(f"{EXAMPLE.resource.path}/{created['id']}")
    client.get("/nope")
    text = (client.get("/metrics")).text
    one, listed = EXAMPLE.resource.one_path, EXAMPLE.resource.path
    assert 'http_requests_total{method="GET",route="' + one + '",status="200"} 3.0' in text
    assert 'http_requests_total{method="POST",route="' + listed + '",status="201"} 1.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "http_request_duration_seconds_bucket" in text


def test_metrics_exclude_the_metrics_route(client: FlaskClient) -> None:
    client.get("/metrics")
    text = (client.get("/metrics")).text
    assert 'route="/metrics"' not in text
