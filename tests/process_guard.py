"""Find the processes a test session started, so that none outlives it.

The session puts a marker variable with a fresh token in its own environment before
the first test (after the tokens of the sessions around it, if any). Every process
started afterwards inherits it: children, grandchildren (`make`, gunicorn workers,
SecantusDB), even after they are re-parented to PID 1. At the end, a process whose
marker holds the token, other than pytest itself, was left behind. Linux only: it
reads `/proc`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

MARKER = "FLASKFAST_TEST_SESSION"
PROC = Path("/proc")


def new_token() -> str:
    """Return a token no other session uses."""
    return uuid.uuid4().hex


def _stat(pid: int) -> tuple[str, int, int] | None:
    """Return (state, parent pid, process group) of `pid`, or None when it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name sits in parentheses and may itself contain spaces or ")".
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def _pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def command_line(pid: int) -> str:
    """Return the command line of `pid` ("" when it is gone)."""
    with contextlib.suppress(OSError):
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    return ""


def alive(pid: int) -> bool:
    """Return True while `pid` runs (a zombie, exited but not yet reaped, does not count)."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """Return the live processes of process group `pgid`."""
    return [pid for pid in _pids() if (stat := _stat(pid)) and stat[2] == pgid and stat[0] != "Z"]


def marked(token: str) -> list[int]:
    """Return the live processes whose MARKER variable holds `token`, except this one."""
    prefix = f"{MARKER}=".encode()
    found = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            environ = (PROC / str(pid) / "environ").read_bytes()
        except OSError:
            continue
        tokens = [
            entry.removeprefix(prefix).decode().split(":")
            for entry in environ.split(b"\0")
            if entry.startswith(prefix)
        ]
        if tokens and token in tokens[0] and alive(pid):
            found.append(pid)
    return found


def with_descendants(pids: list[int]) -> list[int]:
    """Return `pids` and every live process below them (e.g. a container's processes,
    whose environment is the image's, below a marked container runtime)."""
    parents = {pid: stat[1] for pid in _pids() if (stat := _stat(pid)) and stat[0] != "Z"}
    found = set(pids)
    grew = True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in found} - found
        found |= below
        grew = bool(below)
    return sorted(found)


def left_behind(token: str, *, grace: float = 3.0) -> dict[int, str]:
    """Return {pid: command line} of the session's processes still running after `grace` s.

    Waits up to `grace` seconds for processes that are on their way out, then SIGKILLs
    the survivors and everything below them, so that nothing outlives the session.
    """
    deadline = time.monotonic() + grace
    while (pids := marked(token)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not pids:
        return {}
    survivors = {pid: command_line(pid) for pid in with_descendants(pids)}
    for pid in survivors:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return survivors


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """Fail the session if a process it started still runs at its end, and kill it.

    Every test stops what it starts (by pid, SIGKILL after a grace period); this checks
    that they did. Runs after every other session fixture has stopped its processes.
    """
    previous = os.environ.get(MARKER)
    token = new_token()
    # A session run by a test (pytest in a subprocess) adds its token to the outer
    # one's, so the outer session still sees what the inner one leaves behind.
    os.environ[MARKER] = f"{previous}:{token}" if previous else token
    yield
    if previous is None:
        del os.environ[MARKER]
    else:
        os.environ[MARKER] = previous
    survivors = left_behind(token)
    if survivors:
        lines = "\n".join(f"  pid {pid}: {command}" for pid, command in survivors.items())
        pytest.fail(
            f"{len(survivors)} process(es) started by this test session were still running "
            f"at its end (now killed):\n{lines}",
            pytrace=False,
        )
