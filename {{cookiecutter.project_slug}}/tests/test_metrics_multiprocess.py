"""Metrics exposition in multiprocess mode (several gunicorn workers)."""

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.metrics import HttpMetrics


def test_scrape_survives_a_worker_file_still_being_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "counter_4242.db").touch()  # what a worker leaves for an instant
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    body, content_type = HttpMetrics().render()
    assert content_type.startswith("text/plain")
    assert isinstance(body, bytes)
