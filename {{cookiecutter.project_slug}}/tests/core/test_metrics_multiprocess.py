"""Metrics: bounded label values, and the exposition in multiprocess mode."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.core.metrics import UNMATCHED_ROUTE, HttpMetrics

# A worker: prometheus_client picks multiprocess mode when it is first imported, so the
# worker's files are written by a process of its own, started with the variable set.
WORKER = """
from {{ cookiecutter.package_name }}.core.metrics import HttpMetrics
HttpMetrics().observe("GET", "/api/v1/things", 200, 0.01)
"""


def test_scrape_merges_worker_files_past_one_still_being_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = [sys.executable, "-c", WORKER]  # this interpreter and a constant script
    subprocess.run(worker, env=env, check=True, timeout=60)  # noqa: S603
    (tmp_path / "counter_4242.db").touch()  # what a starting worker leaves for an instant
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    body, content_type = HttpMetrics().render()
    assert content_type.startswith("text/plain")
    served = 'http_requests_total{method="GET",route="/api/v1/things",status="200"} 1.0'
    assert served in body.decode().splitlines()


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
