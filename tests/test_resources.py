"""Resources beyond the default: a renamed first resource, and ones added by `make resource`.

The shared bakes (`baked`) use a first resource that is not the default (`SHARED_RESOURCE`),
and the `GROWN` bakes add a second resource to a default bake with `make resource`. The
contract suite serves each of these resources; this module checks what the contract cannot
see: the names in the code, the collections and indexes in MongoDB, and a template update
reaching every resource of a grown project (then `make check`).
"""

import io
import json
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
    install,
    migrate,
    resources_of,
    run,
    wait_for,
)
from tests.test_cruft import commit_all, sh, template_repo  # noqa: F401  (fixture)
from tests.test_openapi_parity import served_document

DEFAULT_WORD = re.compile(r"item", re.IGNORECASE)
# The project's own names (the defaults: "Item Service", item-service, item_service,
# ITEM_SERVICE_) are not the resource's and stay as they are.
PROJECT_NAMES = re.compile(r"item[ _-]service", re.IGNORECASE)


def default_names_left(project: Path) -> list[str]:
    """Return every place in the resources' code and tests of `project` that still says "item".

    That is `app.py`, `src/<package>/resources/` and `tests/resources/`: the core and its
    tests are the same whatever the resource is called (tests/test_scaffold.py compares
    them). A bare identifier `items` is the list envelope's field (`page.items`) or
    `dict.items()`: the envelope keeps its key for every resource, so those are fine.
    """
    found = []
    places = ["src/*/app.py", "src/*/resources/**/*.py", "tests/resources/**/*.py"]
    for path in sorted(path for place in places for path in project.glob(place)):
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
@pytest.mark.parametrize("framework", ["fastapi", "flask"])
def test_a_template_update_reaches_every_resource(
    template_repo: Path,  # noqa: F811  (the fixture imported from test_cruft)
    tmp_path: Path,
    framework: str,
) -> None:
    """Bake `order_line`, add `customer`, take a template change to the core and to the
    example resource: both land (the core's for both resources), `make check` is green."""
    out = tmp_path / "out"
    out.mkdir()
    context = {"framework": framework, "resource_name": "order_line"}
    cruft = str(BIN / "cruft")
    create = [cruft, "create", str(template_repo), "--no-input", "--output-dir", str(out)]
    sh([*create, "--extra-context", json.dumps(context)], tmp_path)
    project = out / "item-service"
    install(project)
    # The bake is written as its formatter would write it: nothing to tell cruft.
    # (cruft renders the template again to compare: the bake hook's next steps print.)
    assert "diff --git" not in sh([cruft, "diff", "--exit-code"], project)
    sh(["git", "init", "-q", "-b", "main"], project)
    commit_all(project, "baked")
    sh(["make", "--no-print-directory", "resource", "NAME=customer"], project)
    commit_all(project, "make resource NAME=customer")
    grown = tree_snapshot(project)

    # A later template commit: the core's words for GET one, and the example's declaration.
    template_package = template_repo / "{{cookiecutter.project_slug}}" / "src"
    texts = next(template_package.glob("*/core/crud/texts.py"))
    texts.write_text(texts.read_text().replace("its ETag is its version.", TEMPLATE_V2_WORDS))
    example = next(template_package.glob("*/resources/items/__init__.py"))
    example.write_text(
        example.read_text().replace("create one (`POST /api/v1/items`).", EXAMPLE_V2_CLAUSE)
    )
    commit_all(template_repo, "template v2")

    sh([cruft, "update", "--skip-apply-ask"], project)
    assert not list(project.rglob("*.rej")), "the update left rejected hunks"
    updated = tree_snapshot(project)
    assert not [path for path, content in updated.items() if b"<<<<<<<" in content]
    package = project / "src" / "item_service"
    declaration = (package / "resources" / "order_lines" / "__init__.py").read_text()
    assert "create one (`POST /api/v1/order_lines`), in template v2." in declaration
    # The team's resource is as it was; the core's change reaches it all the same.
    for path, content in grown.items():
        if "/customers/" in path or path.endswith("resources/__init__.py"):
            assert updated[path] == content, path
    paths = served_document(project)["paths"]
    for one in ("/api/v1/order_lines/{order_line_id}", "/api/v1/customers/{customer_id}"):
        # FastAPI publishes the handler's docstring as the description; flask-openapi
        # makes a one-line docstring the summary.
        operation = paths[one]["get"]
        words = operation.get("description", operation.get("summary", ""))
        assert TEMPLATE_V2_WORDS in words, one
    checked = run(["make", "check"], cwd=project, timeout=900)
    assert "mongo: embedded SecantusDB" in checked.stdout


TEMPLATE_V2_WORDS = "its ETag is its version (template v2)."
EXAMPLE_V2_CLAUSE = "create one (`POST /api/v1/items`), in template v2."
