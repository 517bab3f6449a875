"""The variants publish the same OpenAPI contract: paths, parameters, bodies, responses."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import VARIANTS, run

DUMP = """
import json, sys
from item_service.app import create_app
from item_service.core.settings import Settings
app = create_app(Settings(mongo_uri="mongodb://127.0.0.1:9/", mongo_server_selection_timeout_ms=50,
                          log_level="ERROR"))
client = app.test_client() if hasattr(app, "test_client") else None
if client is None:
    from fastapi.testclient import TestClient
    client = TestClient(app)
response = client.get("/openapi.json")
print()
print(json.dumps(response.json() if callable(response.json) else response.json))
"""

# Differences that remain between the libraries, dropped before comparing, each with why:
NOISE_KEYS = {
    # FastAPI emits OpenAPI 3.1.0; flask-openapi 5 emits 3.2.0 (same schema dialect).
    "openapi",
    # Each library derives operation ids from its own function/path naming scheme.
    "operationId",
    # FastAPI: summary from the function name, description from the docstring;
    # flask-openapi: summary = the docstring's first line. Same text, different slots.
    "summary",
    "description",
    # flask-openapi writes the default `deprecated: false` on every operation.
    "deprecated",
}
# flask-openapi also lists the tags at the document's top level (FastAPI only per
# operation). Only that list is dropped: operation tags and a schema property named
# `tags` (the items resource has one) are compared.
NOISE_TOP_LEVEL_KEYS = {"tags"}
# `description` is only noise on operations and responses; schema descriptions count.
KEEP_DESCRIPTION_UNDER = ("components",)


def served_document(project: Path) -> dict[str, Any]:
    """Return the /openapi.json a baked project serves (in-process, no database needed)."""
    return served_document_with(project, None)


def served_document_with(project: Path, env: dict[str, str] | None) -> dict[str, Any]:
    """Return the /openapi.json `project` serves with `env` (e.g. its access settings)."""
    python = str(project / ".venv" / "bin" / "python")
    done = run([python, "-c", DUMP], cwd=project, env=env)
    document: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return document


def normalise(node: Any, path: tuple[str, ...] = ()) -> Any:
    """Drop NOISE_KEYS (outside component schemas) and NOISE_TOP_LEVEL_KEYS, sort parameters.

    Parameters are sorted by (in, name). A key of a `properties` map is a field's name,
    never noise: `description` or `tags` there is a field of the resource.
    """
    if isinstance(node, dict):
        kept = {}
        for key, value in node.items():
            in_schemas = path[:1] == KEEP_DESCRIPTION_UNDER or "schema" in path
            field_name = bool(path) and path[-1] == "properties"
            noise = (key in NOISE_KEYS and not (key == "description" and in_schemas)) or (
                not path and key in NOISE_TOP_LEVEL_KEYS
            )
            if noise and not field_name:
                continue
            kept[key] = normalise(value, (*path, key))
        return kept
    if isinstance(node, list):
        items = [normalise(item, path) for item in node]
        if path and path[-1] == "parameters":
            items.sort(key=lambda p: (p["in"], p["name"]))
        return items
    return node


@pytest.fixture(scope="module")
def documents(baked: Callable[[str], Path]) -> dict[str, dict[str, Any]]:
    """Return every variant's served OpenAPI document."""
    return {variant: served_document(baked(variant)) for variant in VARIANTS}


def test_fastapi_drivers_publish_identical_documents(documents: dict[str, Any]) -> None:
    assert documents["fastapi-pymongo"] == documents["fastapi-motor"]


def test_flask_and_fastapi_publish_the_same_contract(documents: dict[str, Any]) -> None:
    fastapi, flask = normalise(documents["fastapi-pymongo"]), normalise(documents["flask"])
    assert set(fastapi["paths"]) == set(flask["paths"])
    for route, operations in fastapi["paths"].items():
        assert set(operations) == set(flask["paths"][route]), route
        for method, operation in operations.items():
            other = flask["paths"][route][method]
            assert operation.get("parameters") == other.get("parameters"), (route, method)
            assert operation.get("requestBody") == other.get("requestBody"), (route, method)
            assert set(operation["responses"]) == set(other["responses"]), (route, method)
            for status, response in operation["responses"].items():
                assert response.get("content") == other["responses"][status].get("content"), (
                    route,
                    method,
                    status,
                )
    assert fastapi["components"]["schemas"] == flask["components"]["schemas"]
    assert fastapi == flask, "a difference outside NOISE_KEYS"


def test_error_responses_are_problem_json(documents: dict[str, Any]) -> None:
    for variant, document in documents.items():
        for route, operations in document["paths"].items():
            for method, operation in operations.items():
                for status, response in operation["responses"].items():
                    if status[0] in "45":
                        assert list(response["content"]) == ["application/problem+json"], (
                            variant,
                            route,
                            method,
                            status,
                        )


def document_with(*, top_tags: list[str], operation_tags: list[str], field_type: str) -> Any:
    """Return a minimal OpenAPI document: top-level tags, one operation, a `tags` field."""
    return {
        "openapi": "3.1.0",
        "tags": [{"name": name} for name in top_tags],
        "paths": {"/x": {"get": {"tags": operation_tags, "operationId": "x", "responses": {}}}},
        "components": {"schemas": {"X": {"properties": {"tags": {"type": field_type}}}}},
    }


def test_normalise_drops_only_the_top_level_tag_list() -> None:
    """The top-level tag list is noise; operation tags and a field named `tags` are not."""
    reference = normalise(document_with(top_tags=[], operation_tags=["x"], field_type="array"))
    assert normalise(document_with(top_tags=["x"], operation_tags=["x"], field_type="array")) == (
        reference
    )
    assert normalise(document_with(top_tags=[], operation_tags=["y"], field_type="array")) != (
        reference
    )
    assert normalise(document_with(top_tags=[], operation_tags=["x"], field_type="string")) != (
        reference
    )
