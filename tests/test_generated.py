"""Each baked variant passes its own lint and type checks; its suite honours TEST_MONGO_URI.

The generated suites run in full, on the embedded server, where a bake is checked as a
team would check it (`make check`): FastAPI and Flask after a template update
(tests/test_resources.py), each variant with an access mode (tests/test_auth.py), and the
recipes (tests/test_recipes.py).
"""

import subprocess
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
def test_generated_suite_honours_test_mongo_uri(
    baked: Callable[[str], Path], variant: str, mongo_uri_env: dict[str, str]
) -> None:
    done = run(
        ["make", "test", "PYTEST_ARGS=tests/core/test_settings.py tests/core/test_health.py"],
        cwd=baked(variant),
        env=mongo_uri_env,
    )
    assert "mongo: TEST_MONGO_URI" in done.stdout


@pytest.mark.parametrize("variant", ["flask"])
def test_make_install_again_is_a_no_op(baked: Callable[[str], Path], variant: str) -> None:
    """Nothing changed since the install (the `baked` fixture ran it): nothing is redone."""
    done = run(["make", "install"], cwd=baked(variant))
    assert done.stdout == "make: Nothing to be done for 'install'.\n"


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("resources/books/__init__.py", "from ...app import create_app", "The app builds on"),
        ("core/crud/models.py", "from . import routes", "The resource machinery"),
        ("core/errors.py", "from .crud import Resource", "The core's foundations"),
        ("core/metrics.py", "from . import middleware", "No import cycles"),
    ],
)
def test_lint_refuses_an_import_against_the_layers(
    baked: Callable[[str], Path], module: str, line: str, contract: str
) -> None:
    """`make lint`'s import contracts (pyproject.toml) name the one an import breaks."""
    project = baked("flask")
    path = project / "src" / "item_service" / module
    original = path.read_text()
    path.write_text(f"{original}\n{line}\n")
    try:
        done = subprocess.run(
            [".venv/bin/lint-imports", "--no-cache", "--no-logo"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        path.write_text(original)
    assert done.returncode == 1, done.stdout
    broken = [text for text in done.stdout.splitlines() if text.endswith(" BROKEN")]
    assert any(text.startswith(contract) for text in broken), done.stdout
