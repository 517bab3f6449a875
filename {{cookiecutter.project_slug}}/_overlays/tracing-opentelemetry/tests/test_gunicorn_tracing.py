"""Traces as deployed: the service under gunicorn (gunicorn.conf.py) exporting over OTLP/HTTP.

One worker serves a request that carries a caller's `traceparent`, the probes and the
scrape, exporting to `tests.tracing_receiver.Receiver`. The batch processor waits a
minute before an export (`OTEL_BSP_SCHEDULE_DELAY`), so every span is still queued in
the worker when gunicorn gets SIGTERM: the receiver sees them only if the graceful
shutdown flushes them (`worker_exit`).
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.core.settings import ENV_PREFIX, Settings

from tests.shapes import SHAPES
from tests.tracing_receiver import CLIENT, SERVER, Receiver

PROJECT = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).with_name("gunicorn")
RESOURCE = SHAPES[0].resource  # the first resource the service itself serves
CALLER_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN_ID = "b7ad6b7169203331"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(
    method: str, url: str, headers: dict[str, str], body: object = None
) -> tuple[int, dict[str, Any]]:
    """Send one request; return the status and the JSON body (or {})."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310  (http on loopback)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    answer = json.loads(text) if text.startswith(b"{") else {}
    return status, answer


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Run an OTLP/HTTP receiver for the test."""
    server = Receiver()
    yield server
    server.stop()


@contextlib.contextmanager
def gunicorn(
    mongo_uri: str, settings: Settings, environment: dict[str, str], log: Path
) -> Iterator[str]:
    """Serve the project with gunicorn.conf.py (one worker) and `environment`; yield its URL.

    It uses the database of `settings` on `mongo_uri`. SIGTERM (graceful) at the end of
    the block; whatever is still running after it is killed.
    """
    port = free_port()
    env = {
        **os.environ,
        f"{ENV_PREFIX}MONGO_URI": mongo_uri,
        f"{ENV_PREFIX}MONGO_DATABASE": settings.mongo_database,
        f"{ENV_PREFIX}ENVIRONMENT": "production",  # JSON log lines
        "WEB_CONCURRENCY": "1",
        "PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(log.parent / "metrics"),
        **environment,
    }
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603  (the project's own gunicorn)
            [str(GUNICORN), "--config", "gunicorn.conf.py"],
            cwd=PROJECT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not (_up(port) and call("GET", f"{url}/health/live", {})[0] == 200):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield url
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _up(port: int) -> bool:
    """Return whether something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def access_events(log: Path) -> list[dict[str, Any]]:
    """Return the access events (`"event": "request"`) of a JSON log."""
    events = []
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict) and event.get("event") == "request":
                events.append(event)
    return events


def test_served_requests_export_spans_tied_to_their_log_lines_and_sigterm_loses_none(
    mongo_uri: str,
    settings: Settings,
    receiver: Receiver,
    credentials: dict[str, str],
    tmp_path: Path,
) -> None:
    log = tmp_path / "gunicorn.log"
    caller = {
        **credentials,
        "traceparent": f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01",
        "tracestate": "vendor=value",
    }
    environment = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "60000",  # nothing leaves before the shutdown
    }
    with gunicorn(mongo_uri, settings, environment, log) as url:
        status, created = call(
            "POST", url + RESOURCE.path, {**caller, "X-Request-ID": "made-1"}, SHAPES[0].body()
        )
        assert status == 201, created
        status, _ = call(
            "GET", f"{url}{RESOURCE.path}/{created['id']}", {**caller, "X-Request-ID": "read-1"}
        )
        assert status == 200
        for probe in ("/health/live", "/health/ready", "/metrics"):
            assert call("GET", url + probe, credentials)[0] == 200, probe
        assert receiver.received() == []  # all still queued in the worker
    spans = receiver.received()

    servers = {span.name: span for span in spans if span.kind == SERVER}
    assert set(servers) == {f"POST {RESOURCE.path}", f"GET {RESOURCE.one_path}"}
    for server in servers.values():
        assert (server.trace_id, server.parent_span_id) == (CALLER_TRACE_ID, CALLER_SPAN_ID)
        assert server.service == "{{ cookiecutter.project_slug }}"
        clients = [span for span in spans if span.parent_span_id == server.span_id]
        assert clients, server.name
        assert {span.kind for span in clients} == {CLIENT}
    # Nothing else: no probe, no scrape, no start-up command made a span.
    assert {span.trace_id for span in spans} == {CALLER_TRACE_ID}
    assert len(spans) == len(servers) + sum(
        1 for span in spans if span.parent_span_id in {s.span_id for s in servers.values()}
    )

    events = {event["request_id"]: event for event in access_events(log)}
    made = servers[f"POST {RESOURCE.path}"]
    read = servers[f"GET {RESOURCE.one_path}"]
    assert (events["made-1"]["trace_id"], events["made-1"]["span_id"]) == (
        made.trace_id,
        made.span_id,
    )
    assert (events["read-1"]["trace_id"], events["read-1"]["span_id"]) == (
        read.trace_id,
        read.span_id,
    )
    assert made.attributes["http.response.header.x_request_id"] == ("made-1",)
    assert {span.status_code for span in spans} == {0}  # UNSET: no error
