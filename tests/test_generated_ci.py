"""The generated project's CI: GitHub workflow, Dependabot and pre-commit configs.

The workflow and Dependabot files are checked against the JSON schemas that
check-jsonschema vendors (offline). pre-commit runs its hooks on a fresh bake.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import BIN, TEMPLATE_ROOT, VARIANTS, bake, install

WORKFLOW = Path(".github/workflows/ci.yml")


def check_schema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    """Validate `path` against one of check-jsonschema's vendored schemas."""
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", f"vendor.{schema}", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bake the default variant once for the file checks."""
    return bake(tmp_path_factory.mktemp("ci"))


def test_workflow_matches_schema(project: Path) -> None:
    """The workflow is a valid GitHub Actions workflow."""
    done = check_schema("github-workflows", project / WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflow_is_copied_verbatim(project: Path) -> None:
    """The workflow is not rendered: its `${{ }}` expressions survive baking."""
    template = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}" / WORKFLOW
    assert (project / WORKFLOW).read_text() == template.read_text()
    assert "${{ github.ref }}" in template.read_text()
    assert "cookiecutter" not in template.read_text()


def test_workflow_lints_tests_and_builds(project: Path) -> None:
    """Jobs: lint + type-check, tests on a mongo:8.0 service, Docker build and compose."""
    jobs = yaml.safe_load((project / WORKFLOW).read_text())["jobs"]
    lint_steps = [step.get("run", "") for step in jobs["lint"]["steps"]]
    assert "make lint" in lint_steps and "make typecheck" in lint_steps
    assert jobs["test"]["services"]["mongo"]["image"] == "mongo:8.0"
    assert jobs["test"]["env"]["TEST_MONGO_URI"].startswith("mongodb://localhost:27017")
    docker_runs = " ".join(step.get("run", "") for step in jobs["docker"]["steps"])
    assert "docker build" in docker_runs and "docker compose up --build --wait" in docker_runs
    python_version = (project / ".python-version").read_text().strip()
    assert python_version == "3.12"  # the default answer, read by setup-python


def test_broken_workflow_fails_schema(project: Path, tmp_path: Path) -> None:
    """A misspelt key (`runs_on`) is rejected: the check has teeth."""
    broken = tmp_path / "ci.yml"
    broken.write_text((project / WORKFLOW).read_text().replace("runs-on:", "runs_on:"))
    assert check_schema("github-workflows", broken).returncode != 0


def test_dependabot_covers_pip_docker_and_actions(project: Path) -> None:
    """Dependabot config is schema-valid and updates pip, compose images and actions."""
    path = project / ".github" / "dependabot.yml"
    done = check_schema("dependabot", path)
    assert done.returncode == 0, done.stdout + done.stderr
    ecosystems = {u["package-ecosystem"] for u in yaml.safe_load(path.read_text())["updates"]}
    assert ecosystems == {"pip", "docker-compose", "github-actions"}


def test_pre_commit_config_is_valid(project: Path) -> None:
    """pre-commit accepts the config; it has ruff, ruff-format and mypy hooks."""
    config = project / ".pre-commit-config.yaml"
    done = subprocess.run(
        [str(BIN / "pre-commit"), "validate-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    hooks = {
        hook["id"] for repo in yaml.safe_load(config.read_text())["repos"] for hook in repo["hooks"]
    }
    assert hooks == {"ruff-check", "ruff-format", "mypy"}


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_pre_commit_passes_on_a_fresh_bake(tmp_path: Path, variant: str) -> None:
    """`pre-commit run --all-files` passes on a new project and changes nothing."""
    framework = VARIANTS[variant]["framework"]
    if not (TEMPLATE_ROOT / "{{cookiecutter.project_slug}}" / "_overlays" / framework).is_dir():
        pytest.skip(f"_overlays/{framework} is not in the template yet")
    project = bake(tmp_path, **VARIANTS[variant])
    install(project)
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    subprocess.run(["git", "init", "-q"], cwd=project, env=env, check=True, timeout=60)
    (project / ".git" / "info" / "exclude").write_text(".venv/\n")
    subprocess.run(["git", "add", "."], cwd=project, env=env, check=True, timeout=60)
    done = subprocess.run(
        [str(BIN / "pre-commit"), "run", "--all-files", "--show-diff-on-failure"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    for hook in ("ruff check", "ruff format", "mypy"):
        assert f"{hook}." in done.stdout and "Passed" in done.stdout
