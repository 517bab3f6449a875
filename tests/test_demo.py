"""`make demo` serves a baked service that answers the whole HTTP contract."""

import os
import signal
import subprocess
import sys

from tests.support import TEMPLATE_ROOT, free_port, http, stop, wait_for


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
        wait_for(
            lambda: http("GET", f"{base}/health/ready")[0] == 200,
            timeout=300,
            what=f"make demo ({log_path})",
        )
        assert f"service ready at {base}" in log_path.read_text()
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
