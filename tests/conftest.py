"""Shared fixtures of the template's suite: each variant baked and installed once."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.process_guard import no_process_left_behind  # noqa: F401  (autouse, session)
from tests.support import VARIANTS, MongoServer, bake, install, mongo_server

# `make test` runs this suite, and make exports its state to children: a generated
# project's `make` started by a test would then be a sub-make ("make[1]: Entering
# directory ..." lines, the parent's flags). Tests run generated Makefiles as a user
# does, from a shell.
for _name in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def baked(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Return `get(variant) -> project dir`, baking and installing each variant once."""
    projects: dict[str, Path] = {}

    def get(variant: str) -> Path:
        if variant not in projects:
            project = bake(tmp_path_factory.mktemp(f"baked-{variant}"), **VARIANTS[variant])
            install(project)
            projects[variant] = project
        return projects[variant]

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
