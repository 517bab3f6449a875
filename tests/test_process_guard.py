"""The session guard: a process a test leaves running fails the session and is killed."""

import os
import subprocess
import sys
from pathlib import Path

from tests.process_guard import alive
from tests.support import TEMPLATE_ROOT

INNER_TESTS = """
import subprocess
from pathlib import Path


def test_stops_what_it_starts():
    proc = subprocess.Popen(["sleep", "300"])
    proc.kill()
    proc.wait()


def test_leaves_a_process_running():
    proc = subprocess.Popen(["sleep", "301"])
    Path("leaked.pid").write_text(str(proc.pid))
"""


def test_a_process_left_running_fails_the_session_and_is_killed(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "from tests.process_guard import no_process_left_behind  # noqa: F401\n"
    )
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(TEMPLATE_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    leaked = int((tmp_path / "leaked.pid").read_text())
    assert done.returncode == 1, done.stdout
    assert "2 passed, 1 error" in done.stdout, done.stdout
    assert "1 process(es) started by this test session were still running" in done.stdout
    assert f"pid {leaked}: sleep 301" in done.stdout
    assert "sleep 300" not in done.stdout
    assert not alive(leaked)
