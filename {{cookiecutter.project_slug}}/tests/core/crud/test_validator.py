"""The collection's validator: MongoDB refuses what the stored model refuses, and only that.

On every shape: the validator is derived from the resource's `document` model
(`bson_schema.validator`), so a script or a hand fix writing straight to MongoDB cannot
store what the service could not read.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import WriteError

from {{ cookiecutter.package_name }}.core.crud import documents

from tests.shapes import SHAPES, Shape
from tests.stored_models import MISSING, ModelCases, changed

DOCUMENT_FAILED_VALIDATION = 121


@dataclass
class Validated:
    """A shape's collection, created with its validator, and the cases of its stored model."""

    shape: Shape
    collection: Collection[dict[str, Any]]
    cases: ModelCases

    def new_document(self, **changes: Any) -> dict[str, Any]:
        """Return a document as the service stores it, with `changes` (MISSING removes)."""
        resource = self.shape.resource
        body = resource.create.model_validate(self.shape.body())
        return changed(documents.new_document(resource, body), changes)

    def stored(self, document: dict[str, Any]) -> bool:
        """Insert `document`; return whether the server took it (False: failed validation)."""
        try:
            self.collection.insert_one(document)
        except WriteError as error:
            if error.code != DOCUMENT_FAILED_VALIDATION:
                raise
            return False
        return True

    def model_accepts(self, document: dict[str, Any]) -> bool:
        """Return whether the resource's stored model reads `document`."""
        try:
            self.shape.resource.document.model_validate(document)
        except ValidationError:
            return False
        return True


@pytest.fixture(scope="module", params=SHAPES, ids=str)
def validated(request: pytest.FixtureRequest, mongo_uri: str) -> Iterator[Validated]:
    """Return each shape's collection in a fresh database, created with its validator."""
    shape: Shape = request.param
    name = f"test_{uuid.uuid4().hex[:12]}"
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_uri) as client:
        client[name].create_collection(
            shape.resource.collection,
            validator=shape.resource.validator,
            validationLevel="strict",
            validationAction="error",
        )
        collection: Collection[dict[str, Any]] = client[name][shape.resource.collection]
        yield Validated(shape, collection, ModelCases(shape.resource.document))
        client.drop_database(name)


def test_a_new_document_is_stored_and_reads_back_as_the_stored_model(
    validated: Validated,
) -> None:
    document = validated.new_document()
    assert validated.stored(document)
    assert validated.model_accepts(validated.collection.find_one({"_id": document["_id"]}) or {})


@pytest.mark.parametrize(
    "changes",
    [
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
    validated: Validated, changes: dict[str, Any]
) -> None:
    """A script or a hand fix writing straight to MongoDB gets code 121, nothing stored."""
    document = validated.new_document(**changes)
    with pytest.raises(WriteError) as raised:
        validated.collection.insert_one(document)
    assert raised.value.code == DOCUMENT_FAILED_VALIDATION
    assert not validated.model_accepts(document)


def test_the_server_refuses_an_update_that_would_break_a_document(validated: Validated) -> None:
    document = validated.new_document()
    validated.collection.insert_one(document)
    fields = validated.shape.resource.fields.model_fields
    required = next(name for name, info in fields.items() if info.is_required())
    with pytest.raises(WriteError) as raised:
        validated.collection.update_one({"_id": document["_id"]}, {"$unset": {required: ""}})
    assert raised.value.code == DOCUMENT_FAILED_VALIDATION
    unchanged = validated.collection.find_one({"_id": document["_id"]}) or {}
    assert unchanged[required] == document[required]


def test_the_server_and_the_model_agree_at_every_bound_and_on_every_type(
    validated: Validated,
) -> None:
    """Each field at and just past each of its bounds, missing, of every other type."""
    disagree = []
    for document in validated.cases.at_bounds():
        if validated.stored(document) != validated.model_accepts(document):
            disagree.append(document)
        validated.collection.delete_many({})  # the documents share their `_id`
    assert not disagree, disagree


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_the_server_and_the_model_accept_and_refuse_the_same_documents(
    validated: Validated, data: st.DataObject
) -> None:
    document = data.draw(validated.cases.valid())
    changed(document, data.draw(validated.cases.changes))
    taken = validated.stored(document)
    # Judged as sent: without an `_id` the driver added one to `document` on insert.
    assert taken == validated.model_accepts(document), (taken, document)
