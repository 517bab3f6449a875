"""Each baked variant passes its own checks: the README's `make lint typecheck test`."""

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import VARIANTS, run


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_lint_passes(baked: Callable[[str], Path], variant: str) -> None:
    run(["make", "lint"], cwd=baked(variant))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_mypy_strict_passes(baked: Callable[[str], Path], variant: str) -> None:
    run(["make", "typecheck"], cwd=baked(variant))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_generated_suite_passes_on_embedded_server(
    baked: Callable[[str], Path], variant: str
) -> None:
    done = run(["make", "test"], cwd=baked(variant), timeout=900)
    assert "mongo: embedded SecantusDB" in done.stdout
    assert " passed" in done.stdout and "failed" not in done.stdout


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_generated_suite_honours_test_mongo_uri(
    baked: Callable[[str], Path], variant: str, mongo_uri_env: dict[str, str]
) -> None:
    done = run(
        ["make", "test", "PYTEST_ARGS=tests/test_settings.py tests/test_health.py"],
        cwd=baked(variant),
        env=mongo_uri_env,
    )
    assert "mongo: TEST_MONGO_URI" in done.stdout


@pytest.mark.parametrize("variant", ["flask"])
def test_make_install_again_is_a_no_op(baked: Callable[[str], Path], variant: str) -> None:
    """Nothing changed since the install (the `baked` fixture ran it): nothing is redone."""
    done = run(["make", "install"], cwd=baked(variant))
    assert done.stdout == "make: Nothing to be done for 'install'.\n"
