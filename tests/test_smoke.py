"""Smoke run of the README's way to serve: `make db` and `make run` (gunicorn, 2 workers)."""

import contextlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.readme_commands import readme_commands
from tests.support import VARIANTS, free_port, http, port_open, stop, wait_for


@contextlib.contextmanager
def make_target(project: Path, args: list[str], env: dict[str, str]) -> Iterator[Path]:
    """Run `make ARGS` in the background; yield its log path; stop it at the end."""
    log_path = project / f"make-{args[0]}-{free_port()}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["make", *args],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield log_path
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        stop(proc)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_served_service_answers_crud_health_and_metrics(
    baked: Callable[[str], Path], variant: str
) -> None:
    project = baked(variant)
    db_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        "ITEM_SERVICE_MONGO_URI": f"mongodb://127.0.0.1:{db_port}/?retryWrites=false",
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{http_port}",
        "WEB_CONCURRENCY": "2",
    }
    with (
        make_target(project, ["db", f"DB_PORT={db_port}"], env),
        make_target(project, ["run"], env) as run_log,
    ):
        base = f"http://127.0.0.1:{http_port}"
        wait_for(lambda: port_open(db_port), timeout=30, what="make db")
        wait_for(
            lambda: http("GET", f"{base}/health/ready")[0] == 200,
            timeout=60,
            what=f"make run ({run_log})",
        )
        status, headers, body = http("POST", f"{base}/api/v1/items", {"name": "smoke"})
        assert status == 201, body
        item = json.loads(body)
        location = f"{base}{headers['location']}"
        assert http("GET", location)[0] == 200
        listing = json.loads(http("GET", f"{base}/api/v1/items")[2])
        assert listing["total"] == 1
        status, _, body = http("PATCH", location, {"tags": ["x"]}, {"If-Match": '"1"'})
        assert (status, json.loads(body)["version"]) == (200, 2)
        assert http("DELETE", location)[0] == 204
        assert http("GET", location)[0] == 404
        metrics = http("GET", f"{base}/metrics")[2].decode()
        assert 'route="/api/v1/items/{item_id}"' in metrics
        assert item["id"] not in metrics
        # The README's curl examples, run as written but against this port.
        for command in readme_commands(project / "README.md"):
            if command.startswith("curl "):
                done = subprocess.run(
                    ["bash", "-c", command.replace("localhost:8000", f"127.0.0.1:{http_port}")],
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=False,
                )
                assert done.returncode == 0, (command, done.stdout, done.stderr)
        log_lines = run_log.read_text().splitlines()
        assert any('"event": "request"' in line for line in log_lines)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_bad_setting_stops_gunicorn_with_one_line_naming_it(
    baked: Callable[[str], Path], variant: str
) -> None:
    project = baked(variant)
    done = subprocess.run(
        [str(project / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py"],
        cwd=project,
        env={
            **os.environ,
            "ITEM_SERVICE_LOG_LEVEL": "LOUD",
            "GUNICORN_CMD_ARGS": "--bind 127.0.0.1:0",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: invalid setting ITEM_SERVICE_LOG_LEVEL:")
