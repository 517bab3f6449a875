"""The collection's validator: MongoDB refuses what `ItemDocument` refuses, and only that."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from pydantic import ValidationError
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import WriteError

from {{ cookiecutter.package_name }}.items import documents
from {{ cookiecutter.package_name }}.items.documents import ItemDocument
from {{ cookiecutter.package_name }}.items.schemas import ItemCreate
from tests.items.builders import item_body
from tests.stored_models import MISSING, ModelCases, changed

DOCUMENT_FAILED_VALIDATION = 121


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
    return changed(documents.new_document(ItemCreate.model_validate(item_body())), changes)


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


# --- the server and the model agree -----------------------------------------------------

CASES = ModelCases(ItemDocument)


def test_the_server_and_the_model_agree_at_every_bound_and_on_every_type(
    collection: Collection[dict[str, Any]],
) -> None:
    """Each field at and just past each of its bounds, missing, of every other type."""
    disagree = []
    for document in CASES.at_bounds():
        if stored(collection, document) != model_accepts(document):
            disagree.append(document)
        collection.delete_many({})  # the documents share their `_id`
    assert not disagree, disagree


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(document=CASES.valid(), changes=CASES.changes)
def test_the_server_and_the_model_accept_and_refuse_the_same_documents(
    collection: Collection[dict[str, Any]], document: dict[str, Any], changes: dict[str, Any]
) -> None:
    changed(document, changes)
    taken = stored(collection, document)
    # Judged as sent: without an `_id` the driver added one to `document` on insert.
    assert taken == model_accepts(document), (taken, document)
