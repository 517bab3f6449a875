"""The collection's validator: MongoDB refuses what `ItemDocument` refuses, and only that."""

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import WriteError

from {{ cookiecutter.package_name }}.items import documents
from {{ cookiecutter.package_name }}.items.documents import ItemDocument
from {{ cookiecutter.package_name }}.items.schemas import ItemCreate
from tests.items.builders import item_body

DOCUMENT_FAILED_VALIDATION = 121


class _Missing:
    """Stands for "remove this field" in a change."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


@pytest.fixture(scope="module")
def collection(mongo_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    """Return the items collection of a fresh database, created with its validator."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_uri) as client:
        client[name].create_collection(
            documents.COLLECTION,
            validator=documents.VALIDATOR,
            validationLevel="strict",
            validationAction="error",
        )
        yield client[name][documents.COLLECTION]
        client.drop_database(name)


def new_document(**changes: Any) -> dict[str, Any]:
    """Return a document as the service stores it, with `changes` (MISSING removes)."""
    document = documents.new_document(ItemCreate.model_validate(item_body()))
    for key, value in changes.items():
        if value is MISSING:
            document.pop(key, None)
        else:
            document[key] = value
    return document


def stored(collection: Collection[dict[str, Any]], document: dict[str, Any]) -> bool:
    """Insert `document`; return whether the server took it (False: it failed validation)."""
    try:
        collection.insert_one(document)
    except WriteError as error:
        if error.code != DOCUMENT_FAILED_VALIDATION:
            raise
        return False
    return True


def model_accepts(document: dict[str, Any]) -> bool:
    """Return whether `ItemDocument` reads `document`."""
    try:
        ItemDocument.model_validate(document)
    except ValidationError:
        return False
    return True


def test_a_new_document_is_stored_and_reads_back_as_the_stored_model(
    collection: Collection[dict[str, Any]],
) -> None:
    document = new_document()
    assert stored(collection, document)
    assert model_accepts(collection.find_one({"_id": document["_id"]}) or {})


@pytest.mark.parametrize(
    "changes",
    [
        {"name": MISSING},
        {"name": None},
        {"name": ""},
        {"name": "\u200b \t"},
        {"name": "x" * 201},
        {"description": MISSING},
        {"description": 7},
        {"description": "x" * 2001},
        {"tags": None},
        {"tags": "lamp"},
        {"tags": ["t"] * 21},
        {"tags": [""]},
        {"tags": ["x" * 51]},
        {"tags": [7]},
        {"version": "1"},
        {"version": 1.0},
        {"version": True},
        {"version": 0},
        {"created_at": "2026-01-01T00:00:00Z"},
        {"updated_at": MISSING},
        {"_id": "0" * 24},
        {"extra": 1},
    ],
    ids=repr,
)
def test_the_server_refuses_a_bad_document_written_around_the_service(
    collection: Collection[dict[str, Any]], changes: dict[str, Any]
) -> None:
    """A script or a hand fix writing straight to MongoDB gets code 121, nothing stored."""
    document = new_document(**changes)
    with pytest.raises(WriteError) as raised:
        collection.insert_one(document)
    assert raised.value.code == DOCUMENT_FAILED_VALIDATION
    assert not model_accepts(document)


def test_the_server_refuses_an_update_that_would_break_a_document(
    collection: Collection[dict[str, Any]],
) -> None:
    document = new_document()
    collection.insert_one(document)
    with pytest.raises(WriteError) as raised:
        collection.update_one({"_id": document["_id"]}, {"$unset": {"name": ""}})
    assert raised.value.code == DOCUMENT_FAILED_VALIDATION
    unchanged = collection.find_one({"_id": document["_id"]}) or {}
    assert unchanged["name"] == document["name"]


# --- property: the server and the model agree ------------------------------------------
# Documents are made from the model's own JSON schema (not from the validator under test),
# so a field added to `ItemDocument` is explored with no edit here: every value at and
# just past each bound and of every other type (one test), then random documents (valid
# ones, with a field removed, added or replaced by any BSON value: hypothesis).

MODEL = ItemDocument.model_json_schema()


def _resolved(node: dict[str, Any]) -> dict[str, Any]:
    """Return `node`, or the model schema's definition it refers to."""
    while "$ref" in node:
        node = MODEL["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def from_schema(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Return values that the JSON schema `node` (of `ItemDocument`) accepts."""
    node = _resolved(node)
    if "anyOf" in node:
        return st.one_of(*map(from_schema, node["anyOf"]))
    if "enum" in node or "const" in node:
        return st.sampled_from(node.get("enum", [node.get("const")]))
    kind: str = node.get("type", node.get("bsonType", ""))
    if kind == "integer":
        low = node.get("minimum", node.get("exclusiveMinimum", -(2**31) - 1) + 1)
        high = node.get("maximum", node.get("exclusiveMaximum", 2**31) - 1)
        return st.integers(min_value=low, max_value=high)
    if kind == "string" and node.get("format") != "date-time":
        sizes = (node.get("minLength", 0), node.get("maxLength", 30))
        texts = st.from_regex(node["pattern"]) if "pattern" in node else st.text()
        return texts.filter(lambda text: sizes[0] <= len(text) <= sizes[1])
    if kind == "array":
        return st.lists(
            from_schema(node["items"]),
            min_size=node.get("minItems", 0),
            max_size=node.get("maxItems", 3),
        )
    if kind == "object":
        fields = node["properties"]
        required = node.get("required", [])
        return st.fixed_dictionaries(
            {key: from_schema(fields[key]) for key in required},
            optional={key: from_schema(sub) for key, sub in fields.items() if key not in required},
        )
    return {
        "string": st.datetimes(),  # format date-time: a BSON date
        "objectId": st.builds(ObjectId),
        "boolean": st.booleans(),
        "null": st.none(),
    }[kind]


WRONG_TYPES: list[Any] = [None, True, 1, 1.5, "x", [], {}, datetime(2026, 1, 1), ObjectId()]
"""One value of each BSON type: every field refuses most of them."""


def a_valid(node: dict[str, Any]) -> Any:
    """Return one value that the JSON schema `node` accepts (the simplest)."""
    node = _resolved(node)
    if "anyOf" in node:
        return a_valid(node["anyOf"][0])
    if "enum" in node or "const" in node:
        return node.get("enum", [node.get("const")])[0]
    kind: str = node.get("type", node.get("bsonType", ""))
    if kind == "integer":
        return node.get("minimum", node.get("exclusiveMinimum", -1) + 1)
    if kind == "string" and node.get("format") != "date-time":
        return "x" * max(node.get("minLength", 0), 1)
    if kind == "array":
        return [a_valid(node["items"])] * node.get("minItems", 0)
    if kind == "object":
        return {key: a_valid(node["properties"][key]) for key in node.get("required", [])}
    return {"string": datetime(2026, 1, 1), "objectId": ObjectId(), "boolean": False}.get(kind)


def edge_cases(node: dict[str, Any]) -> list[Any]:
    """Return values at and just past each bound of `node`, and of every other BSON type."""
    node = _resolved(node)
    cases: list[Any] = [*WRONG_TYPES]
    for option in node.get("anyOf", []):
        cases += edge_cases(option)
    for n in _around(node, "minLength", "maxLength"):
        cases += ["x" * n, "\u200b" * n]
    for n in _around(node, "minItems", "maxItems"):
        cases.append([a_valid(node["items"])] * n)
    if "items" in node:
        cases += [[case] for case in edge_cases(node["items"])]
    cases += _around(node, "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
    fields = node.get("properties", {})
    valid = a_valid(node) if fields else {}
    for key, sub in fields.items():
        cases.append({name: value for name, value in valid.items() if name != key})
        cases += [{**valid, key: case} for case in edge_cases(sub)]
    if fields:
        cases.append({**valid, "extra": 1})
    return cases


def _around(node: dict[str, Any], *keywords: str) -> list[int]:
    """Return each bound of `node` under `keywords`, and one less and one more (>= 0)."""
    bounds = [node[key] for key in keywords if key in node]
    return sorted({bound + step for bound in bounds for step in (-1, 0, 1)} - {-1})


def test_the_server_and_the_model_agree_at_every_bound_and_on_every_type(
    collection: Collection[dict[str, Any]],
) -> None:
    """Each field at and just past each of its bounds, missing, of every other type."""
    cases = [case for case in edge_cases(MODEL) if isinstance(case, dict)]
    disagree = []
    for case in cases:
        if stored(collection, case) != model_accepts(case):
            disagree.append(case)
        collection.delete_many({})  # the cases share their `_id`
    assert not disagree, disagree
    assert len(cases) > 100


KEYS = [*MODEL["properties"], "extra"]
# Any BSON value at all, for a field of any type.
ANY_VALUE = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False),
        st.text(max_size=20),
        st.datetimes(),
        st.builds(ObjectId),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=5,
)
CHANGES = st.dictionaries(st.sampled_from(KEYS), st.one_of(st.just(MISSING), ANY_VALUE), max_size=1)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(document=from_schema(MODEL), changes=CHANGES)
def test_the_server_and_the_model_accept_and_refuse_the_same_documents(
    collection: Collection[dict[str, Any]], document: dict[str, Any], changes: dict[str, Any]
) -> None:
    for key, value in changes.items():
        if value is MISSING:
            document.pop(key, None)
        else:
            document[key] = value
    taken = stored(collection, document)
    # Judged as sent: without an `_id` the driver added one to `document` on insert.
    assert taken == model_accepts(document), (taken, document)
