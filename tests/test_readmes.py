"""Both READMEs stay honest: every command they show is one the suite runs."""

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.readme_commands import readme_commands
from tests.support import TEMPLATE_ROOT, VARIANTS, bake


@dataclass(frozen=True)
class RunBy:
    """Where the suite or CI runs a README command, checked by `test_each_claim_holds`."""

    where: str
    """A file of the template, or `file::function` for one function (or test) in it."""
    runs: str
    """Text in that file or function that runs the command."""
    note: str = ""
    """What else a reader needs: how the run differs from the command as written."""


# Each command a generated README may show, with where it is run as written.
GENERATED_README_COMMANDS = {
    "make install": RunBy("tests/support.py::install", '["make", "install"'),
    "make test": RunBy(
        "tests/test_resources.py::test_a_template_update_reaches_every_resource",
        '["make", "check"]',
        "`make check` runs `make lint typecheck test`",
    ),
    "make install && make db": RunBy(
        "tests/test_smoke.py::test_make_db_stops_with_everything_it_started",
        '["db", f"DB_PORT={db_port}"]',
        "`make install` is every shared bake's install()",
    ),
    "make run": RunBy(
        "tests/test_smoke.py::test_served_service_answers_crud_health_and_metrics", '["run"]'
    ),
    # The smoke test runs every README line that mentions migrations, as written.
    **dict.fromkeys(
        [
            "make migrate",
            ".venv/bin/python -m item_service.core.migrations status",
            ".venv/bin/python -m item_service.core.migrations upgrade --dry-run",
        ],
        RunBy(
            "tests/test_smoke.py::test_served_service_answers_crud_health_and_metrics",
            'if "migrat" in c]',
        ),
    ),
    # The "Tracing" section of a `tracing=opentelemetry` bake.
    **dict.fromkeys(
        [
            "export OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318",
            "export OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.25",
        ],
        RunBy(
            "tests/test_tracing.py::test_readme_tracing_blocks_run_as_written",
            "exported(setup).items()",
            "the collector's address is a test receiver's; `make run` with the exports set",
        ),
    ),
    "make resource NAME=order": RunBy(
        "tests/conftest.py::baked", '["make", "resource", f"NAME={singular}"'
    ),
    "make check": RunBy(
        "tests/test_resources.py::test_a_template_update_reaches_every_resource",
        '["make", "check"]',
    ),
    "make lock": RunBy(
        "tests/test_locks.py::test_make_lock_and_make_upgrade_keep_the_locks_in_sync",
        'make("lock", project)',
    ),
    "make upgrade": RunBy(
        "tests/test_locks.py::test_make_lock_and_make_upgrade_keep_the_locks_in_sync",
        'make("upgrade", project)',
    ),
    "make lock-check": RunBy(
        "tests/test_locks.py::test_baked_locks_are_in_sync_with_the_baked_pyproject",
        'make("lock-check", project)',
    ),
    "docker build -t item-service:local .": RunBy(
        "tests/test_containers.py::test_image_builds_and_compose_stack_serves",
        'build(project, "item-service:local")',
        "Engine.build adds `--network host` (no NAT in the private engine)",
    ),
    "docker compose up --wait": RunBy(
        "tests/test_containers.py::test_image_builds_and_compose_stack_serves",
        '"up", "--no-build", "--wait"',
        "`--no-build`: the image was just built from the same Dockerfile",
    ),
}
# Same for the template's own README.
TEMPLATE_README_COMMANDS = {
    "make demo": RunBy("tests/test_demo.py::test_make_demo_serves_the_contract", '["make", "demo"'),
    "make test": RunBy(".ci/run", "\nmake test\n"),
    "make test-containers": RunBy(".ci/run", "\nmake test-containers"),
    "make bench-smoke": RunBy(
        "tests/test_bench_smoke.py::test_bench_smoke_measures_every_step",
        'run_smoke("bench"',
        "the recipe's `python -m bench --smoke`, with the test's own --out",
    ),
    "make lock": RunBy(
        "tests/locks.py::relock_variant",
        'make("upgrade" if upgrade else "lock", project)',
        "not as written: `python -m tests.locks` runs weekly with --upgrade (make "
        "refresh-locks); each lock set's `make lock` is run by test_locks.py",
    ),
    "make refresh-locks": RunBy(".github/workflows/refresh-locks.yml", "run: make refresh-locks"),
    "make bench": RunBy(
        "tests/test_bench_smoke.py::run_smoke",
        '"-m", module, "--smoke"',
        "not as written: the full run (about 20 min) is by hand; CI runs the same module "
        "with --smoke",
    ),
    "cookiecutter .": RunBy("tests/support.py::bake", "cookiecutter("),
    "cruft create .": RunBy(
        "tests/test_cruft.py::test_cruft_update_brings_a_template_change", '"create",'
    ),
}


def source_of(where: str) -> str:
    """Return the text of `file` or of `file::function` (a module-level def) in the template."""
    path, _, function = where.partition("::")
    text = (TEMPLATE_ROOT / path).read_text()
    if not function:
        return text
    [node] = [
        node
        for node in ast.parse(text).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function
    ]
    return ast.get_source_segment(text, node) or ""


@pytest.mark.parametrize(
    ("command", "claim"),
    [*GENERATED_README_COMMANDS.items(), *TEMPLATE_README_COMMANDS.items()],
    ids=str,
)
def test_each_claim_holds(command: str, claim: RunBy) -> None:
    """The file (and function) a claim names exists and holds the text that runs the command."""
    assert claim.runs in source_of(claim.where), (command, claim)


def test_a_claim_that_does_not_hold_is_caught() -> None:
    with pytest.raises(ValueError):  # no such function: nothing to unpack
        source_of("tests/support.py::no_such_function")
    assert '["make", "lint"]' not in source_of("tests/support.py::install")


# Every variant, and a traced bake (its "Tracing" section).
README_ANSWERS = {**VARIANTS, "flask+tracing": {**VARIANTS["flask"], "tracing": "opentelemetry"}}


@pytest.mark.parametrize("variant", list(README_ANSWERS))
def test_generated_readme_shows_only_tested_commands(tmp_path: Path, variant: str) -> None:
    project = bake(tmp_path, **README_ANSWERS[variant])
    for command in readme_commands(project / "README.md"):
        if command.startswith("curl "):
            continue  # test_smoke.py runs every curl line against the served service
        assert command in GENERATED_README_COMMANDS, f"untested README command: {command}"


def test_template_readme_shows_only_tested_commands() -> None:
    for command in readme_commands(TEMPLATE_ROOT / "README.md"):
        assert command in TEMPLATE_README_COMMANDS, f"untested README command: {command}"
