"""The items' own rules: what their declaration adds to the core's (tested in tests/core/)."""

import unicodedata
from typing import Any

import pytest
from bson import ObjectId
from pydantic import ValidationError

import {{ cookiecutter.package_name }}.resources.items as declared
from {{ cookiecutter.package_name }}.core.crud import documents
from {{ cookiecutter.package_name }}.core.schemas import VISIBLE_PATTERN

from tests.http import Http
from tests.resources.items.builders import body

RESOURCE = declared.ITEMS
PATH = RESOURCE.path


def stored_before(*fields: str) -> dict[str, Any]:
    """Return a document as stored before `fields` existed (they are missing from it)."""
    model = RESOURCE.create.model_validate(body())
    document = documents.new_document(RESOURCE, model, ObjectId())
    return {key: value for key, value in document.items() if key not in fields}


def test_the_models_are_named_after_the_item() -> None:
    models = (RESOURCE.create, RESOURCE.update, RESOURCE.read, RESOURCE.page, RESOURCE.query)
    names = [model.__name__ for model in (*models, RESOURCE.document)]
    suffixes = ("Create", "Update", "Read", "Page", "Query", "Document")
    assert names == [f"Item{suffix}" for suffix in suffixes]


def test_names_are_normalised_and_refused_blank_on_create_and_update() -> None:
    created = RESOURCE.create.model_validate({"name": " lamp\u200b"})
    assert created.model_dump()["name"] == "lamp"
    updated = RESOURCE.update.model_validate({"name": "  lamp "})
    assert updated.model_dump(exclude_unset=True) == {"name": "lamp"}
    schema = RESOURCE.create.model_json_schema()
    assert schema["properties"]["name"]["pattern"] == VISIBLE_PATTERN
    with pytest.raises(ValidationError, match="string_invisible"):
        RESOURCE.update.model_validate({"name": "\u200b"})


def test_a_name_is_unique_in_its_normal_form(http: Http) -> None:
    composed = unicodedata.normalize("NFC", "Café")
    decomposed = unicodedata.normalize("NFD", "Café")
    assert http.post(PATH, json=body(name=composed)).status_code == 201
    again = http.post(PATH, json=body(name=f" {decomposed}\u200b"))
    assert again.status_code == 409
    expected = f"An item named {composed!r} already exists."
    assert again.json()["detail"] == expected


def test_the_tag_filter_matches_one_tag_exactly(http: Http) -> None:
    http.post(PATH, json=body(name="red", tags=["colour", "warm"]))
    http.post(PATH, json=body(name="blue", tags=["colour"]))
    listed: Any = RESOURCE.page.model_validate(http.get(PATH, params={"tag": "warm"}).json())
    assert [found.name for found in listed.items] == ["red"]
    assert http.get(PATH, params={"tag": "war"}).json()["total"] == 0


def test_a_document_stored_without_its_optional_fields_reads_their_defaults() -> None:
    read: Any = documents.to_read(RESOURCE, stored_before("description", "tags"))
    assert (read.description, read.tags) == (None, [])


@pytest.mark.parametrize(
    "changes",
    [
        {"name": None},
        {"tags": None},
        {"tags": "lamp"},
        {"description": 7},
    ],
)
def test_an_update_refuses_null_and_wrong_types(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RESOURCE.update.model_validate(changes)
