"""Prometheus metrics at /metrics, labelled by route template."""

import httpx2

from tests.shapes import SHAPES

EXAMPLE = SHAPES[0]  # the first registered resource


async def test_metrics_count_requests_by_route_template(client: httpx2.AsyncClient) -> None:
    created = (await client.post(EXAMPLE.resource.path, json=EXAMPLE.body())).json()
    for _ in range(3):
        await client.get(f"{EXAMPLE.resource.path}/{created['id']}")
    await client.get("/nope")
    text = (await client.get("/metrics")).text
    one, listed = EXAMPLE.resource.one_path, EXAMPLE.resource.path
    assert 'http_requests_total{method="GET",route="' + one + '",status="200"} 3.0' in text
    assert 'http_requests_total{method="POST",route="' + listed + '",status="201"} 1.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "http_request_duration_seconds_bucket" in text


async def test_metrics_exclude_the_metrics_route(client: httpx2.AsyncClient) -> None:
    await client.get("/metrics")
    text = (await client.get("/metrics")).text
    assert 'route="/metrics"' not in text
