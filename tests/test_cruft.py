"""Updating a generated service from a newer template with cruft.

The template is copied into a scratch git repository so the test controls its
commits: bake from one commit, commit the project, change the template in a new
commit (a file, a k8s manifest and the variant's locks), `cruft update`, and check
that the changes arrived, the project's locks still match its pyproject.toml, and
`cruft check` passes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from tests.locks import LOCK_NAMES, make, to_template, versions
from tests.support import BIN, TEMPLATE_ROOT

IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".cache",
    "build",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template Test",
    "GIT_AUTHOR_EMAIL": "template@example.com",
    "GIT_COMMITTER_NAME": "Template Test",
    "GIT_COMMITTER_EMAIL": "template@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def sh(args: list[str], cwd: Path) -> str:
    """Run a command with a fixed git identity; return stdout or fail with the output."""
    done = subprocess.run(
        args,
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


def commit_all(repo: Path, message: str) -> str:
    """Commit everything in the scratch repo `repo`; return the new commit id."""
    sh(["git", "add", "--all"], repo)
    sh(["git", "commit", "-q", "-m", message], repo)
    return sh(["git", "rev-parse", "HEAD"], repo).strip()


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """Copy the template's files into a fresh git repository with one commit."""
    repo = tmp_path / "template"
    shutil.copytree(TEMPLATE_ROOT, repo, ignore=IGNORE)
    sh(["git", "init", "-q", "-b", "main"], repo)
    commit_all(repo, "template v1")
    return repo


def relocked(template: Path, workdir: Path, package: str, version: str) -> list[str]:
    """Bake the default variant from `template`, move `package` to `version` in its locks
    and re-lock (`make lock` keeps that pin and finds its hashes); return the stored locks."""
    project = Path(
        cookiecutter(str(template), no_input=True, output_dir=str(workdir), default_config=True)
    )
    entry = re.compile(rf"^{re.escape(package)}==.*?(?=^\S)", re.MULTILINE | re.DOTALL)
    for name in LOCK_NAMES:
        lock = project / name
        lock.write_text(entry.sub(f"{package}=={version}\n", lock.read_text(), count=1))
    make("lock", project)
    return [to_template((project / name).read_text()) for name in LOCK_NAMES]


@pytest.mark.slow
def test_cruft_update_brings_a_template_change(template_repo: Path, tmp_path: Path) -> None:
    """A template change lands in a project baked from an older commit; check passes after."""
    first = sh(["git", "rev-parse", "HEAD"], template_repo).strip()
    out = tmp_path / "out"
    out.mkdir()
    sh(
        [
            str(BIN / "cruft"),
            "create",
            str(template_repo),
            "--no-input",
            "--output-dir",
            str(out),
            "--extra-context",
            json.dumps({"kubernetes": "yes"}),
        ],
        tmp_path,
    )
    project = out / "item-service"
    recorded_locks = [to_template((project / name).read_text()) for name in LOCK_NAMES]
    recorded = json.loads((project / ".cruft.json").read_text())
    assert recorded["commit"] == first
    assert recorded["context"]["cookiecutter"]["kubernetes"] == "yes"
    sh(["git", "init", "-q", "-b", "main"], project)
    commit_all(project, "baked")
    sh([str(BIN / "cruft"), "check"], project)

    # A template fix in a file every project has, and one under the pruned-or-kept k8s/.
    dockerignore = template_repo / "{{cookiecutter.project_slug}}" / ".dockerignore"
    dockerignore.write_text(dockerignore.read_text() + "# template v2\n*.log\n")
    pdb = template_repo / "{{cookiecutter.project_slug}}" / "k8s" / "pdb.yaml"
    pdb.write_text(pdb.read_text().replace("minAvailable: 1", "minAvailable: 2"))
    # And new locks for the variant: one package moved (as `make refresh-locks` does).
    overlay = template_repo / "{{cookiecutter.project_slug}}" / "_overlays" / "fastapi-pymongo"
    new_locks = relocked(template_repo, tmp_path / "relock", "prometheus-client", "0.25.0")
    for name, new_lock, recorded_lock in zip(LOCK_NAMES, new_locks, recorded_locks, strict=True):
        (overlay / name).write_text(new_lock)
        old_pins = versions(recorded_lock)
        moved = {k: v for k, v in versions(new_lock).items() if old_pins[k] != v}
        assert moved == {"prometheus-client": "0.25.0"}, name
    second = commit_all(template_repo, "template v2")

    checked = subprocess.run(
        [str(BIN / "cruft"), "check"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode != 0, "cruft check must report the newer template"

    sh([str(BIN / "cruft"), "update", "--skip-apply-ask"], project)
    assert (project / ".dockerignore").read_text().endswith("# template v2\n*.log\n")
    assert "minAvailable: 2" in (project / "k8s" / "pdb.yaml").read_text()
    # The project's locks followed the template's, and still match its pyproject.toml;
    # the Dockerfile installs requirements.txt, so the next image has prometheus-client
    # 0.25.0 too.
    assert [to_template((project / name).read_text()) for name in LOCK_NAMES] == new_locks
    make("lock-check", project)
    assert json.loads((project / ".cruft.json").read_text())["commit"] == second
    assert not list(project.rglob("*.rej")), "the update left rejected hunks"
    assert not (project / "_overlays").exists()
    commit_all(project, "template update")
    sh([str(BIN / "cruft"), "check"], project)
