"""The generated project's CI: GitHub workflows, Dependabot and pre-commit configs.

The workflows and the Dependabot file are checked against the JSON schemas that
check-jsonschema vendors (offline). pre-commit runs its hooks on a fresh bake.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import BIN, TEMPLATE_ROOT, VARIANTS, bake, install, uv_env

WORKFLOW = Path(".github/workflows/ci.yml")
UPDATE_WORKFLOW = Path(".github/workflows/template-update.yml")


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


@pytest.mark.parametrize("workflow", [WORKFLOW, UPDATE_WORKFLOW], ids=str)
def test_workflow_matches_schema(project: Path, workflow: Path) -> None:
    """Each workflow is a valid GitHub Actions workflow."""
    done = check_schema("github-workflows", project / workflow)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("workflow", [WORKFLOW, UPDATE_WORKFLOW], ids=str)
def test_workflow_is_copied_verbatim(project: Path, workflow: Path) -> None:
    """The workflows are not rendered: their `${{ }}` expressions survive baking."""
    template = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}" / workflow
    assert (project / workflow).read_text() == template.read_text()
    assert "${{ " in template.read_text()
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


def uv_steps(workflow: dict) -> list[dict]:  # type: ignore[type-arg]
    """Return every setup-uv step of a parsed workflow."""
    return [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if step.get("uses", "").startswith("astral-sh/setup-uv@")
    ]


def test_workflow_installs_from_the_lock_with_a_cache_keyed_by_it(project: Path) -> None:
    """Both Python jobs set up uv with a cache keyed by the locks, then `make install`."""
    workflow = yaml.safe_load((project / WORKFLOW).read_text())
    for name in ("lint", "test"):
        steps = workflow["jobs"][name]["steps"]
        [uv] = uv_steps({"jobs": {name: workflow["jobs"][name]}})
        assert uv["with"]["enable-cache"] is True
        assert uv["with"]["cache-dependency-glob"].split() == [
            "requirements.txt",
            "requirements-dev.txt",
        ]
        runs = [step.get("run", "") for step in steps]
        assert runs.index("make install") > steps.index(uv)
        assert not any("pip" in str(step) for step in steps), "no pip install, no pip cache"
    lint_runs = [step.get("run", "") for step in workflow["jobs"]["lint"]["steps"]]
    assert lint_runs.index("make lock-check") > lint_runs.index("make install")


def test_uv_is_the_same_version_in_ci_and_the_image(project: Path) -> None:
    """The workflows and the Dockerfile pin one uv version."""
    [dockerfile_uv] = re.findall(
        r"^ARG UV_VERSION=(\S+)$", (project / "Dockerfile").read_text(), re.MULTILINE
    )
    for workflow in (WORKFLOW, UPDATE_WORKFLOW):
        steps = uv_steps(yaml.safe_load((project / workflow).read_text()))
        assert steps and {step["with"]["version"] for step in steps} == {dockerfile_uv}


def test_template_update_workflow_runs_cruft_and_opens_a_pull_request(project: Path) -> None:
    """Weekly and on demand: `cruft update` without prompts, then one pull request."""
    workflow = yaml.safe_load((project / UPDATE_WORKFLOW).read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["schedule"][0]["cron"] and "workflow_dispatch" in triggers
    assert workflow["permissions"] == {"contents": "write", "pull-requests": "write"}
    steps = workflow["jobs"]["update"]["steps"]
    runs = " ".join(step.get("run", "") for step in steps)
    assert "cruft update --skip-apply-ask" in runs
    [pull_request] = [s for s in steps if s.get("uses", "").startswith("peter-evans/create-pull")]
    assert pull_request["with"]["branch"] == "template-update"
    assert steps.index(pull_request) == len(steps) - 1


def test_broken_workflow_fails_schema(project: Path, tmp_path: Path) -> None:
    """A misspelt key (`runs_on`) is rejected: the check has teeth."""
    broken = tmp_path / "ci.yml"
    broken.write_text((project / WORKFLOW).read_text().replace("runs-on:", "runs_on:"))
    assert check_schema("github-workflows", broken).returncode != 0


def test_dependabot_covers_the_locks_docker_and_actions(project: Path) -> None:
    """Dependabot config is schema-valid and updates the requirements locks (its pip
    ecosystem reads `*.txt` requirements files, hashes included), images and actions."""
    path = project / ".github" / "dependabot.yml"
    done = check_schema("dependabot", path)
    assert done.returncode == 0, done.stdout + done.stderr
    ecosystems = {u["package-ecosystem"] for u in yaml.safe_load(path.read_text())["updates"]}
    assert ecosystems == {"pip", "docker-compose", "github-actions"}
    assert (project / "requirements.txt").is_file() and (project / "requirements-dev.txt").is_file()


def test_pre_commit_config_is_valid(project: Path) -> None:
    """pre-commit accepts the config; it has the lock check, ruff, ruff-format and mypy."""
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
    assert hooks == {"lock-check", "ruff-check", "ruff-format", "mypy"}


@pytest.mark.slow
# One variant per framework: the hooks are the same files; fastapi-motor differs only in
# db.py, which `make typecheck` (tests/test_generated.py) checks in every variant.
@pytest.mark.parametrize("variant", ["fastapi-pymongo", "flask"])
def test_pre_commit_passes_on_a_fresh_bake(tmp_path: Path, variant: str) -> None:
    """`pre-commit run --all-files` passes on a new project and changes nothing."""
    project = bake(tmp_path, **VARIANTS[variant])
    install(project)
    env = {
        **uv_env(),
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",  # `uv`, as a user has it on PATH
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
    # Each hook ran on files and passed: "(no files to check)Skipped" is not a pass.
    assert hook_results(done.stdout) == dict.fromkeys(HOOK_NAMES, "Passed"), done.stdout


HOOK_NAMES = ("locks match pyproject.toml", "ruff check", "ruff format", "mypy")
# pre-commit's line per hook: the name, dots, an optional note, the result.
HOOK_LINE = re.compile(r"^(.+?)\.{3,}(?:\([^)]*\))?(Passed|Failed|Skipped)$", re.MULTILINE)


def hook_results(output: str) -> dict[str, str]:
    """Return {hook name: "Passed" | "Failed" | "Skipped"} from `pre-commit run` output."""
    return dict(HOOK_LINE.findall(output))


def test_hook_results_tell_a_skipped_hook_from_a_passed_one() -> None:
    """A hook with no files to check reads as Skipped, not as passed."""
    output = (
        "locks match pyproject.toml...............................Passed\n"
        "ruff check...............................................Passed\n"
        "mypy.................................(no files to check)Skipped\n"
        "- hook id: mypy\n"
    )
    assert hook_results(output) == {
        "locks match pyproject.toml": "Passed",
        "ruff check": "Passed",
        "mypy": "Skipped",
    }
