"""The generated README's field recipes, applied exactly as written, keep their promises.

One shared bake (`RECIPES`: FastAPI with PyMongo, resource `order_line`) gets all five
recipes of its README, in order, as `git apply` applies them (tests/conftest.py). Here it
passes its own `make check`, and, served by gunicorn against a real SecantusDB, takes the
new fields, reads documents stored before they existed with their defaults, and refuses
(422) every null or wrong type that could make a later read fail. The contract suite
serves the same bake (tests/test_contract.py, with the added fields). A second, renamed
bake (`book`, Flask) proves the rendered patches apply to another resource's code. The
migration the README shows after the recipes is added to the bake as written: `make
check` type-checks it (mypy --strict), and it is run against a collection that already
holds documents stored under the validator of before the recipes.
"""

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient

from tests.readme_commands import readme_migration, readme_recipes
from tests.support import (
    ENV_PREFIX,
    PACKAGE,
    RECIPE_FIELDS,
    RECIPES,
    MongoServer,
    ServiceProcess,
    apply_patch,
    gunicorn_service,
    http,
    log_events,
    migrate,
    migrate_command,
    resources_of,
    run,
)

_, PLURAL = resources_of(RECIPES)[0]
DEFAULTS = {"quantity": 0, "sku": None, "price_cents": 0, "status": "active", "dimensions": None}
FULL = {
    "quantity": 3,
    "sku": "LAMP-01.b_2",
    "price_cents": 1999,
    "status": "draft",
    "dimensions": {"width_mm": 120, "height_mm": 300, "depth_mm": 120},
}
# Values no request may store: nulls of fields that cannot be null, and wrong types or
# bounds (a float or string amount, a boolean count, an unknown status, a partial object).
REFUSED = [
    {"quantity": None},
    {"quantity": -1},
    {"quantity": 1.0},
    {"quantity": True},
    {"quantity": 1_000_001},
    {"sku": ""},
    {"sku": 7},
    {"sku": "with space"},
    {"price_cents": None},
    {"price_cents": 19.99},
    {"price_cents": "1999"},
    {"price_cents": -1},
    {"price_cents": 10**13},
    {"price_cents": False},
    {"status": None},
    {"status": "deleted"},
    {"status": "ACTIVE"},
    {"dimensions": {"width_mm": 10}},
    {"dimensions": {"width_mm": 10, "height_mm": 10, "depth_mm": 0}},
    {"dimensions": {"width_mm": 10, "height_mm": 10, "depth_mm": 10.5}},
    {"dimensions": {"width_mm": 10, "height_mm": 10, "depth_mm": 10, "colour": "red"}},
    {"dimensions": {"width_mm": None, "height_mm": 10, "depth_mm": 10}},
    {"dimensions": []},
]


def test_the_readme_has_five_recipes_touching_only_the_resources_declaration_and_tests(
    baked: Callable[[str], Path],
) -> None:
    recipes = readme_recipes(baked(RECIPES) / "README.md")
    assert len(recipes) == 5
    paths = {
        line.split(maxsplit=1)[1]
        for recipe in recipes
        for line in recipe.splitlines()
        if line.startswith(("--- ", "+++ "))
    }
    assert paths == {
        f"{side}/{path}"
        for side in "ab"
        for path in [
            f"src/item_service/resources/{PLURAL}/__init__.py",
            f"tests/resources/{PLURAL}/test_{PLURAL}.py",
        ]
    }


def test_the_readmes_only_python_example_is_the_migration_these_tests_apply(
    baked: Callable[[str], Path],
) -> None:
    """Every Python block of the README runs somewhere: here, the field recipes' migration."""
    readme = baked(RECIPES) / "README.md"
    file_name, source = readme_migration(readme)
    assert readme.read_text().count("```python\n") == 1
    assert file_name == "0003_backfill_quantity.py"
    assert "def upgrade(db: Database[Document]) -> None:" in source


def test_make_check_passes_with_every_recipe_applied(baked: Callable[[str], Path]) -> None:
    run(["make", "check"], cwd=baked(RECIPES), timeout=900)


def test_the_recipes_apply_to_a_renamed_resource_of_the_other_framework(
    baked: Callable[[str], Path],
) -> None:
    """The README of a `book` Flask bake renders patches that apply to its own code."""
    project = baked("flask")
    recipes = readme_recipes(project / "README.md")
    assert len(recipes) == 5
    apply_patch(project, "".join(recipes), check_only=True)


# Run with the recipe bake's own python: builds its collection with the derived validator
# (as a migration does), then writes documents straight through PyMongo, around the service.
VALIDATOR_PROBE = """
import sys
from pymongo import MongoClient
from pymongo.errors import WriteError
from item_service.core.crud import documents
from item_service.resources.{plural} import {upper} as resource

with MongoClient(sys.argv[1]) as client:
    db = client[sys.argv[2]]
    db.create_collection(
        resource.collection,
        validator=resource.validator,
        validationLevel="strict",
        validationAction="error",
    )
    body = resource.create.model_validate({{"name": "ok", **{full!r}}})
    db[resource.collection].insert_one(documents.new_document(resource, body))
    for n, (field, value) in enumerate({refused!r}):
        body = resource.create.model_validate({{"name": f"bad-{{n}}"}})
        document = documents.new_document(resource, body)
        document[field] = value
        try:
            db[resource.collection].insert_one(document)
        except WriteError as error:
            print(error.code)
        else:
            print("stored", field, repr(value))
    client.drop_database(sys.argv[2])
"""


def test_the_recipe_fields_are_enforced_by_the_collection_validator(
    baked: Callable[[str], Path], mongo: MongoServer
) -> None:
    """MongoDB itself refuses (code 121) every wrong value of a new field, whoever writes."""
    project = baked(RECIPES)
    refused = [(field, value) for fields in REFUSED for field, value in fields.items()]
    probe = VALIDATOR_PROBE.format(plural=PLURAL, upper=PLURAL.upper(), full=FULL, refused=refused)
    python = str(project / ".venv" / "bin" / "python")
    done = run([python, "-c", probe, mongo.uri, "validator_probe"], cwd=project)
    assert done.stdout.split() == ["121"] * len(refused), done.stdout


def test_the_readme_migration_backfills_a_collection_already_holding_documents(
    baked: Callable[[str], Path], mongo: MongoServer
) -> None:
    """The README's migration, after recipe (a), on documents stored before the recipes.

    The database is as the template left it: the migrations before the README's applied,
    the collection's validator without the recipes' fields (`additionalProperties:
    false`), documents in it. Then `make migrate`: the migration applies the new
    validator and gives every document its `quantity`.
    """
    project = baked(RECIPES)
    file_name, _ = readme_migration(project / "README.md")
    assert (project / "src" / PACKAGE / "resources" / PLURAL / "migrations" / file_name).is_file()
    database = "readme_migration"
    env = {f"{ENV_PREFIX}MONGO_URI": mongo.uri, f"{ENV_PREFIX}MONGO_DATABASE": database}
    before = f"{int(file_name[:4]) - 1:04d}"
    run([*migrate_command(project), "--to", before], cwd=project, env={**os.environ, **env})
    python = str(project / ".venv" / "bin" / "python")
    dumped = run(
        [
            python,
            "-c",
            f"import json; from {PACKAGE}.resources.{PLURAL} import {PLURAL.upper()} as r; "
            "print(json.dumps(r.validator))",
        ],
        cwd=project,
    ).stdout
    validator = json.loads(dumped)
    for field in RECIPE_FIELDS:
        del validator["$jsonSchema"]["properties"][field]  # the template's, before the recipes
    now = datetime.now(UTC)
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo.uri) as client:
        db = client[database]
        db.command("collMod", PLURAL, validator=validator)
        db[PLURAL].insert_many(
            [
                {"name": f"stored-before-{n}", "description": None, "tags": [], "version": 1}
                | {"created_at": now, "updated_at": now}
                for n in range(3)
            ]
        )
        try:
            migrate(project, mongo.uri, database)
            quantities = [document.get("quantity") for document in db[PLURAL].find()]
            (options,) = db.list_collections(filter={"name": PLURAL})
        finally:
            client.drop_database(database)
    assert quantities == [0, 0, 0]
    assert "quantity" in options["options"]["validator"]["$jsonSchema"]["properties"]


# --- served ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(baked: Callable[[str], Path], mongo: MongoServer) -> Iterator[ServiceProcess]:
    """Serve the recipe bake with gunicorn (2 workers) against the session's SecantusDB."""
    with gunicorn_service(baked(RECIPES), mongo.uri) as running:
        yield running


@pytest.fixture
def stored(service: ServiceProcess, mongo: MongoServer) -> Iterator[Any]:
    """Return the served resource's MongoDB collection (the service's own database)."""
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo.uri) as client:
        yield client[f"test_{service.port}"][PLURAL]


_names = iter(range(1_000_000))


def send(
    service: ServiceProcess, method: str, path: str = "", body: object = None
) -> tuple[int, Any]:
    """Send one request to the resource's URL (+ `path`); return the status and JSON body."""
    status, _, raw = http(method, f"{service.url}/api/v1/{PLURAL}{path}", body)
    return status, json.loads(raw) if raw else None


def create(service: ServiceProcess, **fields: Any) -> dict[str, Any]:
    """Create a resource with a unique name and `fields`; return its body."""
    status, body = send(service, "POST", body={"name": f"recipe-{next(_names)}", **fields})
    assert status == 201, body
    created: dict[str, Any] = body
    return created


def test_a_create_without_the_new_fields_gets_their_defaults(service: ServiceProcess) -> None:
    created = create(service)
    assert {key: created[key] for key in DEFAULTS} == DEFAULTS
    assert send(service, "GET", f"/{created['id']}") == (200, created)


def test_a_create_stores_and_reads_back_every_new_field(
    service: ServiceProcess, stored: Any
) -> None:
    created = create(service, **FULL)
    assert {key: created[key] for key in FULL} == FULL
    assert send(service, "GET", f"/{created['id']}") == (200, created)
    document = stored.find_one({"_id": ObjectId(created["id"])})
    assert {key: document[key] for key in FULL} == FULL
    assert type(document["price_cents"]) is int  # a BSON integer: no float, no Decimal128


def test_a_patch_changes_and_clears_the_new_fields(service: ServiceProcess) -> None:
    created = create(service, **FULL)
    changes = {"quantity": 0, "price_cents": 250, "status": "archived", "sku": "B-2"}
    status, patched = send(service, "PATCH", f"/{created['id']}", changes)
    assert status == 200, patched
    assert {key: patched[key] for key in changes} == changes
    assert patched["dimensions"] == FULL["dimensions"]
    status, cleared = send(service, "PATCH", f"/{created['id']}", {"sku": None, "dimensions": None})
    assert (status, cleared["sku"], cleared["dimensions"]) == (200, None, None)
    status, replaced = send(service, "PUT", f"/{created['id']}", {"name": created["name"]})
    assert status == 200, replaced
    assert {key: replaced[key] for key in DEFAULTS} == DEFAULTS  # a PUT replaces every field


@pytest.mark.parametrize("fields", REFUSED, ids=lambda fields: json.dumps(fields))
def test_a_null_or_wrong_value_is_422_on_every_write_and_changes_nothing(
    service: ServiceProcess, fields: dict[str, Any]
) -> None:
    created = create(service, **FULL)
    member = f"/{created['id']}"
    for method, path, body in [
        ("POST", "", {"name": f"refused-{next(_names)}", **fields}),
        ("PUT", member, {"name": created["name"], **fields}),
        ("PATCH", member, fields),
    ]:
        status, problem = send(service, method, path, body)
        assert status == 422, (method, body, problem)
        assert problem["errors"], problem
    assert send(service, "GET", member) == (200, created)


def test_documents_stored_before_the_fields_existed_read_with_their_defaults(
    service: ServiceProcess, stored: Any
) -> None:
    """Documents as the template stored them (no new fields) are read, listed and changed."""
    now = datetime.now(UTC)
    tag = f"old-{next(_names)}"
    old = [
        {"name": f"{tag}-{n}", "description": None, "tags": [tag], "version": 1}
        | {"created_at": now, "updated_at": now}
        for n in range(2)
    ]
    stored.insert_many(old)
    first, second = (str(document["_id"]) for document in old)
    status, read = send(service, "GET", f"/{first}")
    assert status == 200, read
    assert {key: read[key] for key in DEFAULTS} == DEFAULTS
    status, page = send(service, "GET", f"?tag={tag}")
    assert (status, page["total"]) == (200, 2)
    assert all({key: got[key] for key in DEFAULTS} == DEFAULTS for got in page["items"])
    # A PATCH stores only what it changes; the rest still reads as its default.
    status, patched = send(service, "PATCH", f"/{first}", {"price_cents": 5})
    assert (status, patched["price_cents"], patched["status"]) == (200, 5, "active")
    assert "status" not in stored.find_one({"_id": ObjectId(first)})
    # A refused PATCH leaves the old document as it was, and readable.
    assert send(service, "PATCH", f"/{second}", {"status": None})[0] == 422
    assert send(service, "GET", f"/{second}")[0] == 200


def test_nothing_stored_by_these_tests_breaks_a_later_read(
    service: ServiceProcess, stored: Any
) -> None:
    """Every document in the collection reads back (by id and in pages): no 500 anywhere."""
    create(service, **FULL)
    ids = [str(document["_id"]) for document in stored.find({}, {"_id": 1})]
    for member_id in ids:
        status, body = send(service, "GET", f"/{member_id}")
        assert status == 200, (member_id, body)
    total, page = 0, 1
    while True:
        status, body = send(service, "GET", f"?per_page=100&page={page}")
        assert status == 200, body
        total += len(body["items"])
        if page * 100 >= body["total"]:
            break
        page += 1
    assert total == len(ids)
    requests = [e for e in log_events(service.log()) if e.get("event") == "request"]
    assert requests
    failed = [e for e in requests if e["status"] >= 500]
    assert not failed, failed
