"""`make demo` serves a baked service that answers the whole HTTP contract."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.resilience_support import stalled_connections
from tests.support import (
    TEMPLATE_ROOT,
    alive,
    free_port,
    http,
    port_free,
    process_tree,
    stop,
    wait_for,
)


def test_make_demo_serves_the_contract(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        demo = subprocess.Popen(
            ["make", "demo", f"DEMO_ARGS=--port {port} --out {tmp_path / 'demo'}"],
            cwd=TEMPLATE_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        # The demo says it is ready once its own check of the service passed: wait for the
        # line (polling /health/ready here could win that race and read the log too early).
        wait_for(
            lambda: f"service ready at {base}" in log_path.read_text(),
            timeout=300,
            what=f"make demo ({log_path})",
        )
        assert http("GET", f"{base}/health/ready")[0] == 200
        contract = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/test_contract.py",
            ],
            cwd=TEMPLATE_ROOT,
            env={**os.environ, "CONTRACT_BASE_URL": base},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert contract.returncode == 0, contract.stdout[-3000:]
        assert " passed" in contract.stdout
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        stop(demo, sig=signal.SIGINT)
    assert "stopped" in log_path.read_text()


# Ctrl-C must stop the demo and everything it started well before gunicorn's graceful
# timeout (30 s in the demo): quick shutdown, no worker left holding the port.
CTRL_C_STOPS_WITHIN_S = 10.0


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_ctrl_c_stops_the_demo_and_every_process_it_started(tmp_path, framework) -> None:  # type: ignore[no-untyped-def]
    """SIGINT to the demo's process group with clients mid-request: all gone, port free."""
    port = free_port()
    log_path = tmp_path / "demo.log"
    args = [sys.executable, "-m", "tests.demo", "--framework", framework, "--port", str(port)]
    args += ["--out", str(tmp_path / "demo")]
    with log_path.open("wb") as log:
        # What `make demo` runs (make only adds a parent that waits for it).
        demo = subprocess.Popen(
            args,
            cwd=TEMPLATE_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started: set[int] = set()
    try:
        wait_for(
            lambda: http("GET", f"http://127.0.0.1:{port}/health/ready")[0] == 200,
            timeout=300,
            what=f"demo ({log_path})",
        )
        started = process_tree(demo.pid)
        with stalled_connections(port, 20):
            time.sleep(0.5)
            signalled = time.monotonic()
            os.killpg(demo.pid, signal.SIGINT)
            demo.wait(60)
            wait_for(lambda: not alive(started) and port_free(port), timeout=30, what="stop")
            took = time.monotonic() - signalled
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(10)
        for pid in alive(started):
            os.kill(pid, signal.SIGKILL)
    print(
        f"FIGURES demo {framework}: Ctrl-C to all gone in {took:.2f} s ({len(started)} processes)"
    )
    assert took <= CTRL_C_STOPS_WITHIN_S, took
    assert "stopped" in log_path.read_text()
