"""Shared fixtures of the template's suite: each variant baked and installed once.

Also the run's own rules: every skip must be allowed (tests/skip_allowlist.py), and
`make test-containers` stops at once, with one line, where no Docker engine can run.
"""

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import containers_engine
from tests.process_guard import no_process_left_behind  # noqa: F401  (autouse, session)
from tests.readme_commands import readme_migration, readme_recipes
from tests.skip_allowlist import ALLOWED_SKIPS, SkipAllowList
from tests.support import (
    GROWN,
    PACKAGE,
    RECIPES,
    MongoServer,
    apply_patch,
    bake,
    bake_answers,
    install,
    mongo_server,
    resources_of,
    run,
)

# `make test` runs this suite, and make exports its state to children: a generated
# project's `make` started by a test would then be a sub-make ("make[1]: Entering
# directory ..." lines, the parent's flags). Tests run generated Makefiles as a user
# does, from a shell. Variables given on make's command line reach the environment too:
# `make refresh-locks VENV=...` must not make every bake install into that venv.
for _name in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "VENV"):
    os.environ.pop(_name, None)


def pytest_configure(config: pytest.Config) -> None:
    """Fail a run that reports a skip not in the allow-list."""
    config.pluginmanager.register(SkipAllowList(ALLOWED_SKIPS), "skip_allowlist")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """Under `make test-containers`, end the run with one line when no engine can start.

    Checks the prerequisites (root, dockerd, mmdebstrap, compose) before any test runs;
    an engine that then fails to start ends the run too (tests/test_containers.py).
    """
    if containers_engine.requested():
        reason = containers_engine.why_unavailable()
        if reason:
            print(containers_engine.unusable(reason), file=sys.stderr)
            return containers_engine.ENGINE_UNUSABLE
    return None


@pytest.fixture(scope="session")
def baked(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Return `get(name) -> project dir`, baking and installing each shared bake once.

    `name` is a variant (baked with `SHARED_RESOURCE`), a `GROWN` bake, or `RECIPES`
    (every field recipe of its README applied, in order, as written, and the migration
    the README shows after them added, as written).
    """
    projects: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in projects:
            project = bake(tmp_path_factory.mktemp(f"baked-{name}"), **bake_answers(name))
            install(project)
            for singular, plural in GROWN[name][1] if name in GROWN else []:
                run(["make", "resource", f"NAME={singular}", f"PLURAL={plural}"], cwd=project)
            if name == RECIPES:
                for diff in readme_recipes(project / "README.md"):
                    apply_patch(project, diff)
                file_name, source = readme_migration(project / "README.md")
                _, plural = resources_of(name)[0]
                home = project / "src" / PACKAGE / "resources" / plural / "migrations"
                (home / file_name).write_text(source)
            projects[name] = project
        return projects[name]

    return get


@pytest.fixture(scope="session")
def mongo() -> Iterator[MongoServer]:
    """Run one SecantusDB process for the session (each service uses its own database)."""
    with mongo_server() as server:
        yield server


@pytest.fixture
def mongo_uri_env(mongo: MongoServer) -> dict[str, str]:
    """Return an environment whose TEST_MONGO_URI points at the session's server."""
    return {**os.environ, "TEST_MONGO_URI": mongo.uri}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave fastapi-motor out of the resilience tests of the HTTP layer (pairwise baking).

    Motor differs from fastapi-pymongo only in `db.py`: the driver-level resilience tests
    (outage, timeouts, credentials, crash, load) and the contract suite still run it.
    """
    deselected = [
        item
        for item in items
        if item.get_closest_marker("http_level")
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("project") == "fastapi-motor"
    ]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]
