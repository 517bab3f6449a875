"""Starting a bake under gunicorn: one line for a bad setting, where it listens, JSON logs.

Every test serves a shared bake with its own gunicorn.conf.py, directly or through
`make run` as the README says, and stops everything it started.
"""

import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import (
    ENV_PREFIX,
    MongoServer,
    free_port,
    gunicorn_service,
    http,
    log_events,
    make_target,
    stop_group,
    wait_for,
)

LOG_LEVEL_LINE = (
    f"invalid setting {ENV_PREFIX}LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'"
)
ISSUER_LINE = f"invalid setting {ENV_PREFIX}AUTH_JWT_ISSUER: Field required"
KEYS_LINE = f"invalid setting {ENV_PREFIX}AUTH_API_KEYS: Field required"
PORT_LINE = (
    "invalid setting PORT: Input should be a valid integer, unable to parse string as an integer"
)


def service_env(**variables: str) -> dict[str, str]:
    """Return this environment without the server's and the access settings, plus `variables`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith((f"{ENV_PREFIX}AUTH_", "GUNICORN_"))
        and name not in ("PORT", "BIND_HOST", "WEB_CONCURRENCY")
    }
    return {**env, **variables}


@pytest.mark.parametrize(
    ("bake_name", "variables", "line"),
    [
        ("fastapi-pymongo", {f"{ENV_PREFIX}LOG_LEVEL": "LOUD"}, LOG_LEVEL_LINE),
        ("flask", {f"{ENV_PREFIX}LOG_LEVEL": "LOUD"}, LOG_LEVEL_LINE),
        ("fastapi-motor", {"PORT": "eighty"}, PORT_LINE),
        ("fastapi-pymongo+jwt", {}, ISSUER_LINE),
        ("flask+jwt", {}, ISSUER_LINE),
        ("fastapi-motor+api_key", {}, KEYS_LINE),
        ("flask+api_key", {}, KEYS_LINE),
    ],
)
def test_a_missing_or_bad_setting_stops_gunicorn_with_exactly_one_line(
    baked: Callable[[str], Path], bake_name: str, variables: dict[str, str], line: str
) -> None:
    """The master checks the service's, the access mode's and its own settings before it
    forks: no worker starts, no traceback, the line alone, exit status 1."""
    project = baked(bake_name)
    proc = subprocess.Popen(
        [str(project / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py"],
        cwd=project,
        env=service_env(GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{free_port()}", **variables),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        stop_group(proc)  # the master and any worker it forked
        proc.communicate()  # and close the pipes
        pytest.fail("gunicorn started serving: the bad setting went unnoticed")
    assert (proc.returncode, stdout, stderr) == (1, "", f"{line}\n")


@pytest.mark.parametrize("bake_name", ["fastapi-pymongo+jwt", "flask+jwt"])
def test_make_run_stops_with_the_one_line_of_a_missing_access_setting(
    baked: Callable[[str], Path], mongo: MongoServer, bake_name: str
) -> None:
    """`make run` migrates (the access settings play no part there), then gunicorn refuses."""
    project = baked(bake_name)
    env = service_env(
        **{f"{ENV_PREFIX}MONGO_URI": mongo.uri, f"{ENV_PREFIX}MONGO_DATABASE": f"run_{free_port()}"}
    )
    done = subprocess.run(
        ["make", "run"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    [line, make_says] = done.stderr.splitlines()
    assert line == ISSUER_LINE
    assert make_says.startswith("make: *** [Makefile:") and make_says.endswith(": run] Error 1")
    assert "Up to date" in done.stdout  # the migrations ran first
    assert "Traceback" not in done.stdout and not log_events(done.stdout), done.stdout


def accepts(host: str, port: int) -> bool:
    """Return True when something accepts TCP connections on `host`:`port`."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@pytest.mark.parametrize(
    ("bake_name", "bind_host", "elsewhere"),
    [("flask", None, "127.0.0.2"), ("fastapi-pymongo", "127.0.0.2", "127.0.0.1")],
)
def test_make_run_listens_where_dotenv_says_and_on_loopback_by_default(
    baked: Callable[[str], Path],
    mongo: MongoServer,
    bake_name: str,
    bind_host: str | None,
    elsewhere: str,
) -> None:
    """`PORT` and `BIND_HOST` from `.env` (gunicorn reads only its environment itself);
    without `BIND_HOST`, 127.0.0.1 and no other address (127.0.0.2 is loopback too, and
    would answer a server bound to 0.0.0.0)."""
    project = baked(bake_name)
    port = free_port()
    host = bind_host or "127.0.0.1"
    dotenv = project / ".env"
    dotenv.write_text(f"PORT={port}\n" + (f"BIND_HOST={bind_host}\n" if bind_host else ""))
    env = service_env(
        **{f"{ENV_PREFIX}MONGO_URI": mongo.uri, f"{ENV_PREFIX}MONGO_DATABASE": f"run_{port}"}
    )
    try:
        with make_target(project, ["run"], env) as run:

            def listening() -> list[str]:
                return [
                    str(event["event"])
                    for event in log_events(run.log.read_text())
                    if str(event.get("event")).startswith("Listening at: ")
                ]

            wait_for(lambda: listening(), timeout=120, what=f"make run ({run.log})")
            assert listening()[0].startswith(f"Listening at: http://{host}:{port} "), listening()
            wait_for(
                lambda: http("GET", f"http://{host}:{port}/health/live")[0] == 200,
                timeout=60,
                what=f"/health/live ({run.log})",
            )
            assert not accepts(elsewhere, port)
    finally:
        dotenv.unlink()
    assert not accepts(host, port)


@pytest.mark.parametrize("bake_name", ["flask", "fastapi-pymongo"])
def test_served_logs_are_only_json_lines_from_start_to_stop(
    baked: Callable[[str], Path], mongo: MongoServer, bake_name: str
) -> None:
    """stdout and stderr of gunicorn and its workers: one JSON object per line, nothing else
    (gevent once warned in each Flask worker that it patched `ssl` too late)."""
    project = baked(bake_name)
    plural = "books"
    with gunicorn_service(project, mongo.uri, workers=2) as service:
        base = f"{service.url}/api/v1/{plural}"
        assert http("POST", base, {"name": "json only"})[0] == 201
        assert http("GET", base)[0] == 200
        assert http("GET", f"{base}/0")[0] in (400, 404, 422)
        assert http("POST", base, b"{not json")[0] in (400, 422)
        assert http("GET", f"{service.url}/health/ready")[0] == 200
    lines = [line for line in service.log().splitlines() if line.strip()]
    events = log_events("\n".join(lines))
    assert len(events) == len(lines), [line for line in lines if not line.startswith("{")]
    assert sum(str(e["event"]).startswith("Booting worker") for e in events) >= 2
    assert sum(e["event"] == "request" for e in events) >= 4
    assert events[-1]["event"] == "Shutting down: Master"
