"""Metrics: bounded label values, and the exposition in multiprocess mode."""

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.core.metrics import KNOWN_METHODS, UNMATCHED_ROUTE, HttpMetrics


def test_scrape_survives_a_worker_file_still_being_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "counter_4242.db").touch()  # what a worker leaves for an instant
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    body, content_type = HttpMetrics().render()
    assert content_type.startswith("text/plain")
    assert isinstance(body, bytes)


def test_unknown_methods_share_one_series() -> None:
    metrics = HttpMetrics()
    for number in range(60):
        metrics.observe(f"ZZTOP{number}", UNMATCHED_ROUTE, 405, 0.001)
    metrics.observe("GET", UNMATCHED_ROUTE, 404, 0.001)
    body, _ = metrics.render()
    series = [line for line in body.decode().splitlines() if line.startswith("http_requests_total")]
    assert series == [
        'http_requests_total{method="other",route="<unmatched>",status="405"} 60.0',
        'http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0',
    ]
    assert "GET" in KNOWN_METHODS
