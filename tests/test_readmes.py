"""Both READMEs stay honest: every command they show is one the suite runs."""

from pathlib import Path

import pytest

from tests.readme_commands import readme_commands
from tests.support import TEMPLATE_ROOT, VARIANTS, bake

# Each command a generated README may show, with the test that runs it as written.
GENERATED_README_COMMANDS = {
    "make install": "tests/support.py install() (every bake); test_install.py (without uv)",
    "make test": "test_generated.py::test_generated_suite_passes_on_embedded_server",
    "make install && make db": "test_smoke.py (make db) after install()",
    "make run": "test_smoke.py",
    "make migrate": "test_smoke.py (and by make run)",
    ".venv/bin/python -m item_service.migrations status": "test_smoke.py",
    ".venv/bin/python -m item_service.migrations upgrade --dry-run": "test_smoke.py",
    "make resource NAME=order": "test_resources.py (then cruft update); GROWN bakes",
    "make check": "test_resources.py, test_recipes.py",
    "make lock": "test_locks.py::test_make_lock_and_make_upgrade_keep_the_locks_in_sync",
    "make upgrade": "test_locks.py::test_make_lock_and_make_upgrade_keep_the_locks_in_sync",
    "make lock-check": "test_locks.py::test_baked_locks_are_in_sync_with_the_baked_pyproject",
    "docker build -t item-service:local .": "test_containers.py (Engine.build of the Dockerfile)",
    "docker compose up --wait": "test_containers.py (compose up --wait)",
}
# Same for the template's own README.
TEMPLATE_README_COMMANDS = {
    "make demo": "test_demo.py",
    "make test": ".ci/run",
    "make test-containers": ".ci/run",
    "make bench-smoke": "test_bench_smoke.py",
    "make lock": "test_locks.py (python -m tests.locks: each variant's locks re-made in a bake)",
    "make refresh-locks": "run by hand and weekly (.github/workflows/refresh-locks.yml)",
    "make bench": "documented full run (bench/README.md); bench-smoke runs the same code",
    "cookiecutter .": "test_bake.py (cookiecutter API with the same template)",
    "cruft create .": "test_cruft.py",
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_generated_readme_shows_only_tested_commands(tmp_path: Path, variant: str) -> None:
    project = bake(tmp_path, **VARIANTS[variant])
    for command in readme_commands(project / "README.md"):
        if command.startswith("curl "):
            continue  # test_smoke.py runs every curl line against the served service
        assert command in GENERATED_README_COMMANDS, f"untested README command: {command}"


def test_template_readme_shows_only_tested_commands() -> None:
    for command in readme_commands(TEMPLATE_ROOT / "README.md"):
        assert command in TEMPLATE_README_COMMANDS, f"untested README command: {command}"
