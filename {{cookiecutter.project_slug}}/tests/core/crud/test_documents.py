"""How a resource's documents are stored and read back, on every shape (`documents`)."""

from typing import Any

import pytest
from bson import ObjectId
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.core.crud import cursors, documents
from {{ cookiecutter.package_name }}.core.crud.cursors import signing_key
from {{ cookiecutter.package_name }}.core.errors import (
    InvalidCursorError,
    NotFoundError,
    UnreadableDocumentError,
)

from tests.shapes import SHAPES, Shape

KEY = signing_key("test")


def stored(shape: Shape, **fields: Any) -> dict[str, Any]:
    """Return a new document of `shape` as inserted (with an `_id`), `fields` over it."""
    body = shape.resource.create.model_validate(shape.body())
    return {**documents.new_document(shape.resource, body, ObjectId()), **fields}


def query(shape: Shape, **params: object) -> Any:
    """Return the shape's list query for `params`."""
    return shape.resource.query.model_validate(params)


def test_an_id_that_is_not_an_object_id_is_not_found_naming_the_resource(shape: Shape) -> None:
    with pytest.raises(NotFoundError) as raised:
        documents.object_id(shape.resource, "nope")
    assert raised.value.resource == shape.resource.name
    assert str(raised.value).endswith(" nope does not exist.")


def test_a_new_document_reads_back_as_version_1_with_its_id(shape: Shape) -> None:
    document = stored(shape)
    read: Any = documents.to_read(shape.resource, document)
    assert (read.id, read.version) == (str(document["_id"]), 1)
    assert read.created_at == read.updated_at
    assert shape.resource.document.model_validate(document)  # the stored model takes it


def test_a_sort_is_stable_on_ties_and_a_unique_key_needs_no_tiebreak(shape: Shape) -> None:
    spec = documents.sort_spec(shape.resource, query(shape, sort="-created_at"))
    assert spec == [("created_at", -1), ("_id", -1)]
    for key in shape.resource.unique:
        if key in shape.resource.sorts:
            assert documents.sort_spec(shape.resource, query(shape, sort=key)) == [(key, 1)]


@pytest.mark.parametrize(
    ("fields", "failing"),
    [
        ({"version": "3"}, ["version"]),
        ({"version": None, "updated_at": "yesterday"}, ["updated_at", "version"]),
    ],
)
def test_a_stored_document_the_read_model_refuses_is_unreadable_naming_id_and_fields(
    shape: Shape, fields: dict[str, object], failing: list[str]
) -> None:
    document = stored(shape, **fields)
    with pytest.raises(UnreadableDocumentError) as raised:
        documents.to_read(shape.resource, document)
    assert raised.value.resource == shape.resource.name
    assert raised.value.failures == {str(document["_id"]): failing}


def test_a_missing_field_with_a_default_reads_as_it_and_one_without_is_unreadable(
    shape: Shape,
) -> None:
    fields = shape.resource.fields.model_fields
    document = stored(shape)
    defaulted = [name for name, info in fields.items() if not info.is_required()]
    for name in defaulted:
        del document[name]
    read = documents.to_read(shape.resource, document)
    assert {name: getattr(read, name) for name in defaulted} == {
        name: fields[name].get_default(call_default_factory=True) for name in defaulted
    }
    required = next(name for name, info in fields.items() if info.is_required())
    del document[required]
    with pytest.raises(UnreadableDocumentError) as raised:
        documents.to_read(shape.resource, document)
    assert raised.value.failures == {str(document["_id"]): [required]}


def test_a_page_with_unreadable_documents_names_every_one(shape: Shape) -> None:
    good, bad, worse = (stored(shape) for _ in range(3))
    bad["version"], worse["created_at"] = None, 5
    with pytest.raises(UnreadableDocumentError) as raised:
        documents.to_reads(shape.resource, [good, bad, worse])
    assert raised.value.ids == [str(bad["_id"]), str(worse["_id"])]


def test_a_cursor_that_is_altered_or_contradicted_is_invalid(shape: Shape) -> None:
    listed = query(shape, sort="created_at", per_page=1)
    page: Any = documents.to_page(shape.resource, listed, [stored(shape), stored(shape)], 2, KEY)
    token = page.next
    assert token is not None
    continued, after = documents.continue_from(shape.resource, query(shape, cursor=token), KEY)
    assert (continued.sort, after is not None) == ("created_at", True)
    filters: list[dict[str, object]] = [
        {param: value} for param, (_, value) in shape.filtered.items()
    ]
    changes: list[dict[str, object]] = [
        {"page": 2},
        {"sort": "-created_at"},
        {"cursor": "x" + "A" * 40},
        *filters,
    ]
    for change in changes:
        altered = query(shape, **{"cursor": token, **change})
        with pytest.raises(InvalidCursorError):
            documents.continue_from(shape.resource, altered, KEY)


def test_a_cursor_is_valid_only_for_the_list_that_gave_it(shape: Shape) -> None:
    """Another resource's cursor, signed with the same key, is refused (issue: it gave 200)."""
    other = next(each for each in SHAPES if each is not shape)
    listed = query(other, sort="created_at", per_page=1)
    page: Any = documents.to_page(other.resource, listed, [stored(other), stored(other)], 2, KEY)
    with pytest.raises(InvalidCursorError, match="another list"):
        documents.continue_from(shape.resource, query(shape, cursor=page.next), KEY)
    # A cursor of a release that did not sign the list in names no list: refused too.
    unscoped = cursors.encode({"s": "created_at", "f": {}, "v": 0, "i": str(ObjectId())}, KEY)
    with pytest.raises(InvalidCursorError, match="another list"):
        documents.continue_from(shape.resource, query(shape, cursor=unscoped), KEY)


def test_a_stored_document_the_stored_model_refuses_is_unreadable_naming_its_fields(
    shape: Shape,
) -> None:
    """What the collection's validator refuses on update: an unknown field, a missing one."""
    document = stored(shape)
    documents.check_stored(shape.resource, document)
    for change, field in (({"extra": 1}, "extra"), ({"version": "two"}, "version")):
        with pytest.raises(UnreadableDocumentError) as raised:
            documents.check_stored(shape.resource, {**document, **change})
        assert raised.value.failures == {str(document["_id"]): [field]}
    del document["created_at"]
    with pytest.raises(UnreadableDocumentError, match=str(document["_id"])):
        documents.check_stored(shape.resource, document)


def test_an_empty_cursor_is_refused_by_the_schema_it_declares(shape: Shape) -> None:
    """`cursor=` fails validation (422) as the OpenAPI schema says, not the cursor check (400)."""
    with pytest.raises(ValidationError, match="at least 1 character"):
        query(shape, cursor="")


def test_an_update_sets_the_changes_bumps_the_version_and_stamps_the_time(shape: Shape) -> None:
    spec = documents.update_spec(dict(shape.change))
    assert spec["$inc"] == {"version": 1}
    assert {key: spec["$set"][key] for key in shape.change} == shape.change
    assert "updated_at" in spec["$set"]
