"""Smoke run of the README's way to serve: `make db` and `make run` (gunicorn, 2 workers)."""

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.process_guard import alive, group_members
from tests.readme_commands import readme_commands
from tests.support import (
    VARIANTS,
    free_port,
    http,
    log_events,
    make_target,
    port_open,
    resources_of,
    wait_for,
)


def test_make_db_stops_with_everything_it_started(baked: Callable[[str], Path]) -> None:
    """Leaving the block stops make and the SecantusDB server it runs, by pid."""
    project = baked("flask")
    db_port = free_port()
    with make_target(project, ["db", f"DB_PORT={db_port}"], dict(os.environ)) as db:
        wait_for(lambda: port_open(db_port), timeout=30, what=f"make db ({db.log})")
        started = group_members(db.pid)
        assert len(started) >= 2, started  # make and secantusd-py
    assert not [pid for pid in started if alive(pid)]
    assert not port_open(db_port)


HANGING_MAKEFILE = """\
hang:
\t@python3 -c 'import signal, time; [signal.signal(s, signal.SIG_IGN) for s in (2, 15)]; \\
\t  print("ignoring SIGINT and SIGTERM", flush=True); time.sleep(600)'
"""


def test_make_target_kills_a_child_that_ignores_signals(tmp_path: Path) -> None:
    """A server that hangs on shutdown is SIGKILLed after the grace period, not orphaned."""
    (tmp_path / "Makefile").write_text(HANGING_MAKEFILE)
    with make_target(tmp_path, ["hang"], dict(os.environ), grace=1) as hang:
        wait_for(lambda: hang.log.read_text().startswith("ignoring"), timeout=30, what="the child")
        started = group_members(hang.pid)
        assert len(started) >= 2, started  # make and python3
    assert not [pid for pid in started if alive(pid)]


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
        make_target(project, ["run"], env) as run,
    ):
        run_log = run.log
        base = f"http://127.0.0.1:{http_port}"
        singular, plural = resources_of(variant)[0]
        wait_for(lambda: port_open(db_port), timeout=30, what="make db")
        wait_for(
            lambda: http("GET", f"{base}/health/ready")[0] == 200,
            timeout=60,
            what=f"make run ({run_log})",
        )
        status, headers, body = http("POST", f"{base}/api/v1/{plural}", {"name": "smoke"})
        assert status == 201, body
        item = json.loads(body)
        location = f"{base}{headers['location']}"
        assert http("GET", location)[0] == 200
        listing = json.loads(http("GET", f"{base}/api/v1/{plural}")[2])
        assert listing["total"] == 1
        status, _, body = http("PATCH", location, {"tags": ["x"]}, {"If-Match": '"1"'})
        assert (status, json.loads(body)["version"]) == (200, 2)
        assert http("DELETE", location)[0] == 204
        assert http("GET", location)[0] == 404
        metrics = http("GET", f"{base}/metrics")[2].decode()
        assert f'route="/api/v1/{plural}/{{{singular}_id}}"' in metrics
        assert item["id"] not in metrics
        # The README's curl examples, run as written but against this port.
        curls = [c for c in readme_commands(project / "README.md") if c.startswith("curl ")]
        for command in curls:
            done = run_curl(command, http_port)
            assert done.returncode == 0, (command, done.stdout, done.stderr)
        # Sent again, the first one (a POST) is a duplicate: curl fails and shows why.
        again = run_curl(curls[0], http_port)
        assert again.returncode == 22, again
        problem = json.loads(again.stdout)
        assert (problem["status"], problem["title"]) == (409, "Conflict"), problem
        events = log_events(run_log.read_text())
        assert any(event.get("event") == "request" for event in events)
        # The README's migration commands, as written: `make run` applied every one.
        migrations = [c for c in readme_commands(project / "README.md") if "migrat" in c]
        assert migrations
        for command in migrations:
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, (command, done.stdout, done.stderr)
            assert "pending" not in done.stdout, (command, done.stdout)


def run_curl(command: str, port: int) -> subprocess.CompletedProcess[str]:
    """Run a README curl line as written, but against 127.0.0.1:`port`."""
    return subprocess.run(
        ["bash", "-c", command.replace("localhost:8000", f"127.0.0.1:{port}")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
