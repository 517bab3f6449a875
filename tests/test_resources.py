"""Resources beyond the default: a renamed first resource, and ones added by `make resource`.

The shared bakes (`baked`) use a first resource that is not the default (`SHARED_RESOURCE`),
and the `GROWN` bakes add a second resource to a default bake with `make resource`. The
contract suite serves each of these resources; this module checks what the contract cannot
see: the names in the code, `make check` after growing, the collections and indexes in
MongoDB, and a template update after growing.
"""

import io
import re
import subprocess
import time
import tokenize
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.support import (
    BIN,
    GROWN,
    VARIANTS,
    MongoServer,
    bake,
    free_port,
    gunicorn_service,
    http,
    migrate,
    resources_of,
    run,
    wait_for,
)
from tests.test_cruft import commit_all, sh, template_repo  # noqa: F401  (fixture)
from tests.test_scaffold import scaffold

DEFAULT_WORD = re.compile(r"item", re.IGNORECASE)
# The project's own names (the defaults: "Item Service", item-service, item_service,
# ITEM_SERVICE_) are not the resource's and stay as they are.
PROJECT_NAMES = re.compile(r"item[ _-]service", re.IGNORECASE)


def default_names_left(project: Path) -> list[str]:
    """Return every place in `src/` and `tests/` of `project` that still says "item".

    A bare identifier `items` is the list envelope's field (`page.items`, `items=`) or
    `dict.items()`: the envelope keeps its key for every resource, so those are fine.
    The JSON Schema modules (`scaffold.UNRENAMED_FILES`) name no resource: the rename
    leaves their keywords (`"items"`, `"maxItems"`) alone.
    """
    found = []
    for path in sorted([*project.glob("src/**/*.py"), *project.glob("tests/**/*.py")]):
        if path.name in scaffold.UNRENAMED_FILES:
            continue
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        for token in tokens:
            text = PROJECT_NAMES.sub("", token.string)
            if not DEFAULT_WORD.search(text) or text == "items":
                continue
            if token.type in (tokenize.NAME, tokenize.STRING, tokenize.COMMENT):
                found.append(f"{path.relative_to(project)}:{token.start[0]}: {token.string}")
        if DEFAULT_WORD.search(PROJECT_NAMES.sub("", path.relative_to(project).as_posix())):
            found.append(f"{path.relative_to(project)}: file name")
    return found


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_renamed_bake_names_its_own_resource_everywhere(
    baked: Callable[[str], Path], variant: str
) -> None:
    assert default_names_left(baked(variant)) == []


@pytest.mark.parametrize("name", list(GROWN))
def test_make_check_passes_after_make_resource(baked: Callable[[str], Path], name: str) -> None:
    project = baked(name)
    for _, plural in resources_of(name):
        assert (project / "src" / "item_service" / plural / "__init__.py").is_file()
        assert (project / "tests" / plural).is_dir()
    run(["make", "check"], cwd=project, timeout=900)


def collections_state(uri: str, database: str) -> dict[str, Any]:
    """Return {collection: (document count, sorted index names)} of `database`."""
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri) as client:
        db = client[database]
        return {
            name: (db[name].count_documents({}), sorted(db[name].index_information()))
            for name in sorted(db.list_collection_names())
        }


@pytest.fixture
def late_mongo() -> Iterator[MongoServer]:
    """Yield a SecantusDB server that is NOT running yet; stop it at the end if started."""
    server = MongoServer(port=free_port(), storage=":memory:")
    try:
        yield server
    finally:
        if server.proc is not None:
            server.stop()


def post_until(
    url: str, body: object, until: Callable[[int, bytes], bool], timeout: float = 5
) -> tuple[int, dict[str, str], bytes]:
    """POST `body` to `url` until `until(status, body)` holds or `timeout` s passed.

    Returns the last answer. The migration gate holds a worker's resource routes (503,
    nothing written) until it has read the migrations done: it reads them at most once
    a second, so another worker may hold them a second longer than the one that answered.
    """
    deadline = time.monotonic() + timeout
    while True:
        status, headers, raw = http("POST", url, body)
        if until(status, raw) or time.monotonic() > deadline:
            return status, headers, raw
        time.sleep(0.1)


@pytest.mark.parametrize("mongo_at_start", ["up", "down"])
@pytest.mark.parametrize("name", list(GROWN))
def test_an_added_resource_writes_only_its_own_collection_with_its_own_indexes(
    baked: Callable[[str], Path], name: str, mongo_at_start: str, late_mongo: MongoServer
) -> None:
    """Orders land in `orders` only; both unique indexes exist, even if MongoDB came late
    (the resource routes then answer 503, writing nothing, until the migrations ran)."""
    if mongo_at_start == "up":
        late_mongo.start()
    with gunicorn_service(baked(name), late_mongo.uri) as service:
        (_, first), *added = resources_of(name)
        if mongo_at_start == "down":
            assert http("GET", f"{service.url}/health/ready")[0] == 503
            late_mongo.start()
            # MongoDB is up, the migrations are not: the gate names them, stores nothing.
            status, headers, raw = post_until(
                f"{service.url}/api/v1/{first}",
                {"name": "too-early"},
                lambda status, raw: b'"migrations"' in raw,
                timeout=10,
            )
            assert (status, "retry-after" in headers) == (503, True), raw
            migrate(baked(name), late_mongo.uri, f"test_{service.port}")
        wait_for(
            lambda: http("GET", f"{service.url}/health/ready")[0] == 200,
            timeout=30,
            what="readiness once MongoDB is up",
        )
        for _, plural in added:
            status, _, raw = post_until(
                f"{service.url}/api/v1/{plural}",
                {"name": "only-here"},
                lambda status, raw: status != 503,
            )
            assert status == 201, raw
        state = collections_state(late_mongo.uri, f"test_{service.port}")
    assert state[first][0] == 0, state  # nothing written through another resource
    for _, plural in added:
        assert state[plural][0] == 1, state
    for plural in [first, *(plural for _, plural in added)]:
        assert "name_unique" in state[plural][1], (plural, state)


def tree_snapshot(project: Path) -> dict[str, bytes]:
    """Return every file under src/ and tests/ of `project` with its content."""
    return {
        str(path.relative_to(project)): path.read_bytes()
        for folder in ("src", "tests")
        for path in sorted((project / folder).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def plain_bake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a default Flask bake, not installed (the scaffold needs only Python)."""
    return bake(tmp_path_factory.mktemp("plain"), framework="flask")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["NAME=item"], "already exists"),
        (["NAME=class"], "keyword"),
        (["NAME=json"], "standard-library"),
        (["NAME=metric", "PLURAL=metrics"], "module of the service"),
        (["NAME=order", "PLURAL=order"], "equals the singular"),
        (["NAME=Order"], "snake_case"),
        (["NAME=tag"], "already uses"),
        ([], "NAME is missing"),
    ],
)
def test_make_resource_refuses_a_bad_name_in_one_line_and_writes_nothing(
    plain_bake: Path, args: list[str], reason: str
) -> None:
    before = tree_snapshot(plain_bake)
    done = subprocess.run(
        ["make", "--no-print-directory", "resource", *args],
        cwd=plain_bake,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    # One line says why: the scaffold's `ERROR:` line, or make's own for a missing NAME
    # (make then adds its usual "make: *** ... Error 1" line).
    reasons = [line for line in done.stderr.splitlines() if reason in line]
    assert len(reasons) == 1, done.stderr
    assert reasons[0].startswith("ERROR: ") or "***" in reasons[0], done.stderr
    assert tree_snapshot(plain_bake) == before


@pytest.mark.slow
def test_cruft_update_applies_cleanly_after_make_resource(
    template_repo: Path,  # noqa: F811  (the fixture imported from test_cruft)
    tmp_path: Path,
) -> None:
    """A project grown by `make resource` still takes a later template change with cruft."""
    out = tmp_path / "out"
    out.mkdir()
    sh(
        [str(BIN / "cruft"), "create", str(template_repo), "--no-input", "--output-dir", str(out)],
        tmp_path,
    )
    project = out / "item-service"
    sh(["git", "init", "-q", "-b", "main"], project)
    commit_all(project, "baked")
    sh(["make", "--no-print-directory", "resource", "NAME=order"], project)
    commit_all(project, "make resource NAME=order")
    grown = tree_snapshot(project)

    # A later template commit changes the default resource's routes and an infrastructure file.
    template_pkg = template_repo / "{{cookiecutter.project_slug}}"
    routes = next(template_pkg.glob("_overlays/fastapi/src/*/items/routes.py"))
    routes.write_text(routes.read_text() + "\n# template v2\n")
    dockerignore = template_pkg / ".dockerignore"
    dockerignore.write_text(dockerignore.read_text() + "# template v2\n")
    commit_all(template_repo, "template v2")

    sh([str(BIN / "cruft"), "update", "--skip-apply-ask", "--allow-untracked-files"], project)
    assert ".rej" not in sh(["git", "status", "--porcelain", "--untracked-files=all"], project)
    assert (project / ".dockerignore").read_text().endswith("# template v2\n")
    updated = tree_snapshot(project)
    assert not [path for path, content in updated.items() if b"<<<<<<<" in content]
    assert updated[next(p for p in updated if p.endswith("items/routes.py"))].endswith(
        b"# template v2\n"
    )
    # The added resource and its registry line survive the update untouched.
    for path, content in grown.items():
        if "/orders/" in path or path.endswith("registry.py"):
            assert updated[path] == content, path
