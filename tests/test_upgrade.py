"""The upgrade note of a generated project (`docs/upgrading.md`), run as written.

A project baked from the last commit before the core layout, grown with `make resource`
and migrated, takes the template of this checkout with `cruft update`, then follows the
note's commands in order: it passes `make check`, and its database's migration records
end up done and up to date.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.readme_commands import readme_commands
from tests.support import BIN, TEMPLATE_ROOT, MongoServer, install, run, uv_env
from tests.test_cruft import IGNORE, commit_all, sh

# The last commit of this repository whose bakes copy the machinery into each resource:
# what projects baked before the core layout were generated from.
BEFORE_CORE = "ef5ad3e449753868e3c2a551ead1ab6492b6b31c"
DATABASE = "upgrade_note"


def template_at(commit: str, repo: Path) -> None:
    """Make `repo` a git repository holding this repository's template as of `commit`."""
    repo.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(TEMPLATE_ROOT), "archive", commit],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert archive.returncode == 0, (
        f"commit {commit[:7]} is not in this clone's history (a shallow clone?): "
        f"{archive.stderr.decode()}"
    )
    subprocess.run(["tar", "-x", "-C", str(repo)], input=archive.stdout, check=True)
    sh(["git", "init", "-q", "-b", "main"], repo)
    commit_all(repo, "the template before the core layout")


def replace_with_this_checkout(repo: Path) -> None:
    """Commit this checkout's template as the next commit of `repo`."""
    sh(["git", "rm", "-rq", "."], repo)
    shutil.copytree(TEMPLATE_ROOT, repo, ignore=IGNORE, dirs_exist_ok=True)
    commit_all(repo, "the core layout")


@pytest.mark.slow
def test_the_upgrade_note_brings_a_grown_project_to_the_core_layout(
    tmp_path: Path, mongo: MongoServer
) -> None:
    template = tmp_path / "template"
    template_at(BEFORE_CORE, template)
    out = tmp_path / "out"
    out.mkdir()
    sh([str(BIN / "cruft"), "create", str(template), "--no-input", "--output-dir", str(out)], out)
    project = out / "item-service"
    install(project)
    sh(["git", "init", "-q", "-b", "main"], project)
    commit_all(project, "baked")
    sh(["make", "--no-print-directory", "resource", "NAME=order"], project)
    commit_all(project, "make resource NAME=order")
    env = {
        **uv_env(),
        "PATH": f"{BIN}:{uv_env()['PATH']}",
        "ITEM_SERVICE_MONGO_URI": mongo.uri,
        "ITEM_SERVICE_MONGO_DATABASE": DATABASE,
        "TEST_MONGO_URI": mongo.uri,
    }
    before = run(
        [".venv/bin/python", "-m", "item_service.migrations", "upgrade"], cwd=project, env=env
    )
    assert "0003_create_orders done" in before.stdout

    replace_with_this_checkout(template)
    update = "cruft update --skip-apply-ask"
    run(["bash", "-c", update], cwd=project, env=env)
    commands = readme_commands(project / "docs" / "upgrading.md")
    assert commands[0] == update
    outputs = [
        run(["bash", "-ec", line], cwd=project, env=env, timeout=900) for line in commands[1:]
    ]
    done = outputs[-1]
    assert done.stdout.strip() == "Up to date (0 applied now).", done.stdout
    status = run(
        [".venv/bin/python", "-m", "item_service.core.migrations", "status"], cwd=project, env=env
    ).stdout.splitlines()
    assert [line.split()[:2] for line in status] == [
        ["0001_idempotency_keys", "done"],
        ["0002_create_items", "done"],
        ["0003_create_orders", "done"],
    ]
    assert not (project / "src" / "item_service" / "registry.py").exists()
    assert not list(project.rglob("*.rej"))
