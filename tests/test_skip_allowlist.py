"""The skip allow-list: a skip whose reason is not allowed fails an otherwise green run."""

from pathlib import Path

import pytest

from tests.skip_allowlist import ALLOWED_SKIPS, HEADING, SkipAllowList
from tests.support import TEMPLATE_ROOT

pytest_plugins = ["pytester"]

SKIPS = """
import pytest

def test_allowed():
    pytest.skip("allowed reason")

@pytest.mark.skipif(True, reason="a new reason")
def test_marked():
    pass

def test_expected_failure():
    pytest.xfail("an xfail is not a skip")

def test_passes():
    pass
"""


def run_with(pytester: pytest.Pytester, source: str, *allowed: str) -> pytest.RunResult:
    """Run `source` as a test module with the plugin allowing `allowed`."""
    pytester.makepyfile(test_skips=source)
    plugin = SkipAllowList(dict.fromkeys(allowed, "why"))
    return pytester.runpytest("-rs", plugins=[plugin])


def test_an_unexplained_skip_fails_the_run_and_is_listed(pytester: pytest.Pytester) -> None:
    result = run_with(pytester, SKIPS, "allowed reason")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*{HEADING}*", "test_skips.py::test_marked: a new reason"])
    result.stdout.no_fnmatch_line("*test_allowed: *")
    result.stdout.no_fnmatch_line("*test_expected_failure: *")


def test_allowed_skips_leave_the_run_green(pytester: pytest.Pytester) -> None:
    result = run_with(pytester, SKIPS, "allowed reason", "a new reason")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=2, xfailed=1)
    result.stdout.no_fnmatch_line(f"*{HEADING}*")


def test_a_module_skipped_at_collection_is_checked_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_other="def test_passes():\n    pass\n")
    source = 'import pytest\npytest.importorskip("no_such_module_here")\n'
    result = run_with(pytester, source + "def test_x():\n    pass\n")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["test_skips.py: could not import 'no_such_module_here'*"])


def test_a_failing_run_keeps_its_status(pytester: pytest.Pytester) -> None:
    result = run_with(pytester, SKIPS + "\ndef test_fails():\n    assert False\n")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, failed=1, skipped=2, xfailed=1)


def test_every_allowed_reason_is_one_the_suite_gives() -> None:
    """No stale entry: each allowed reason is written in the suite's own sources."""
    lists = {Path(__file__).name, "skip_allowlist.py"}
    files = [path for path in (TEMPLATE_ROOT / "tests").glob("*.py") if path.name not in lists]
    sources = "".join(path.read_text() for path in files)
    stale = [reason for reason in ALLOWED_SKIPS if reason not in sources]
    assert not stale
