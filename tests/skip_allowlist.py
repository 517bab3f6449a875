"""The skips the suite may report, each with why; any other skip fails the run.

A skip is a check that did not run. `make test` and `make test-containers` (what
`.ci/run` runs) list every skip with its reason (`-ra`, `-rs`), and tests/conftest.py
registers `SkipAllowList(ALLOWED_SKIPS)`: a skip whose reason is not a key below turns
a green run red and is listed under its own heading. A new skip needs an entry here
saying when it fires and why that is acceptable, or it must become a failure.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.containers_engine import NOT_REQUESTED

ALLOWED_SKIPS: dict[str, str] = {
    NOT_REQUESTED: (
        "the six engine tests of tests/test_containers.py in `make test`; the second half "
        "of .ci/run, `make test-containers`, runs them and fails when no engine can run"
    ),
    "the database of an external service is not known": (
        "tests/test_contract.py against a running service (CONTRACT_BASE_URL, the "
        "`make demo` test): the checks that reach into the service's database; never in "
        "`make test`, which serves every variant itself"
    ),
    "a running service's other resources are not known": (
        "tests/test_contract.py against a running service (CONTRACT_BASE_URL, the "
        "`make demo` test): the check that a cursor is refused by another resource; "
        "`make test` runs it on every bake that serves two resources"
    ),
}
"""Reason (exactly as the skip gives it) -> when it fires and why that is acceptable."""

HEADING = "skips not in the allow-list (tests/skip_allowlist.py)"


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """Return the reason of a skipped report, as `pytest.skip` or a skip mark gave it."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # (path, line, "Skipped: <reason>")
        return longrepr[2].removeprefix("Skipped: ")
    return str(longrepr)


class SkipAllowList:
    """A pytest plugin: fail a run that reports a skip whose reason is not allowed.

    Args:
        allowed: Reason -> why it is acceptable. Reasons are compared exactly.
    """

    def __init__(self, allowed: Mapping[str, str]) -> None:
        """Start with no unexplained skip."""
        self.allowed = allowed
        self.unexplained: list[tuple[str, str]] = []
        """(node id, reason) of each skip not in `allowed`, in the order reported."""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Note a skipped test (setup or call; an xfail is not a skip)."""
        self._note(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Note a module skipped while collecting (e.g. `importorskip`)."""
        self._note(report)

    def _note(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            reason = skip_reason(report)
            if reason not in self.allowed:
                self.unexplained.append((report.nodeid, reason))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Turn an otherwise green run red when a skip was not allowed."""
        if self.unexplained and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """List each skip that was not allowed, with its reason."""
        if self.unexplained:
            terminalreporter.section(HEADING, sep="=", red=True, bold=True)
            for nodeid, reason in self.unexplained:
                terminalreporter.line(f"{nodeid}: {reason}")
