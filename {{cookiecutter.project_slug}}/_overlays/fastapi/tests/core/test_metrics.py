"""Prometheus metrics at /metrics, labelled by route template."""

import httpx2

from tests.items.builders import item_body


async def test_metrics_count_requests_by_route_template(client: httpx2.AsyncClient) -> None:
    created = (await client.post("/api/v1/items", json=item_body())).json()
    for _ in range(3):
        await client.get(f"/api/v1/items/{created['id']}")
    await client.get("/nope")
    text = (await client.get("/metrics")).text
    assert (
        'http_requests_total{method="GET",route="/api/v1/items/{item_id}",status="200"} 3.0' in text
    )
    assert 'http_requests_total{method="POST",route="/api/v1/items",status="201"} 1.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "http_request_duration_seconds_bucket" in text


async def test_metrics_exclude_the_metrics_route(client: httpx2.AsyncClient) -> None:
    await client.get("/metrics")
    text = (await client.get("/metrics")).text
    assert 'route="/metrics"' not in text
