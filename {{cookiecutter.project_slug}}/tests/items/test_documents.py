"""How items are stored: the resource's names, ids and the stored shape."""

import pytest
from bson import ObjectId

from {{ cookiecutter.package_name }} import cursors
from {{ cookiecutter.package_name }}.cursors import signing_key
from {{ cookiecutter.package_name }}.errors import (
    InvalidCursorError,
    NotFoundError,
    UnreadableDocumentError,
)
from {{ cookiecutter.package_name }}.items import ITEMS, documents
from {{ cookiecutter.package_name }}.items.schemas import ItemCreate, ItemQuery

KEY = signing_key("test")


def test_the_resource_is_registered_under_the_names_its_errors_use() -> None:
    assert ITEMS.name == documents.RESOURCE
    assert (ITEMS.collection, ITEMS.indexes) == (documents.COLLECTION, documents.INDEXES)


def test_an_id_that_is_not_an_object_id_is_not_found_naming_the_resource() -> None:
    with pytest.raises(NotFoundError) as raised:
        documents.object_id("nope")
    assert raised.value.resource == documents.RESOURCE
    assert str(raised.value).endswith(" nope does not exist.")


def test_a_new_document_reads_back_as_version_1_with_its_id() -> None:
    stored = documents.new_document(ItemCreate(name="lamp"), documents.object_id("0" * 24))
    read = documents.to_item(stored)
    assert (read.id, read.name, read.version) == ("0" * 24, "lamp", 1)
    assert read.created_at == read.updated_at


def test_sort_is_stable_on_ties_in_the_requested_direction() -> None:
    assert documents.sort_spec(ItemQuery(sort="-name")) == [("name", -1)]
    assert documents.sort_spec(ItemQuery(sort="created_at")) == [("created_at", 1), ("_id", 1)]


@pytest.mark.parametrize(
    ("fields", "failing"),
    [
        ({"name": None}, ["name"]),
        ({"version": "3"}, ["version"]),
        ({"tags": ["ok", 7], "updated_at": "yesterday"}, ["tags.1", "updated_at"]),
    ],
)
def test_a_stored_document_the_read_model_refuses_is_unreadable_naming_id_and_fields(
    fields: dict[str, object], failing: list[str]
) -> None:
    stored = {**documents.new_document(ItemCreate(name="lamp"), ObjectId()), **fields}
    with pytest.raises(UnreadableDocumentError) as raised:
        documents.to_item(stored)
    assert raised.value.resource == documents.RESOURCE
    assert raised.value.failures == {str(stored["_id"]): failing}


def test_a_missing_field_is_unreadable_but_missing_description_and_tags_read_as_empty() -> None:
    stored = documents.new_document(ItemCreate(name="lamp"), ObjectId())
    del stored["description"], stored["tags"]
    assert (documents.to_item(stored).description, documents.to_item(stored).tags) == (None, [])
    del stored["created_at"]
    with pytest.raises(UnreadableDocumentError, match=str(stored["_id"])):
        documents.to_item(stored)


def test_a_page_with_unreadable_documents_names_every_one() -> None:
    good, bad, worse = (documents.new_document(ItemCreate(name=n), ObjectId()) for n in "abc")
    bad["version"], worse["name"] = None, 5
    with pytest.raises(UnreadableDocumentError) as raised:
        documents.to_items([good, bad, worse])
    assert raised.value.ids == [str(bad["_id"]), str(worse["_id"])]


SCOPE = documents.COLLECTION


def first_cursor(scope: str = SCOPE) -> str:
    """Return the `next` cursor of a first page by name, one item per page, listing `scope`."""
    query = ItemQuery(sort="name", per_page=1)
    stored = [documents.new_document(ItemCreate(name=n), ObjectId()) for n in "ab"]
    cursor = documents.to_page(query, stored, 2, KEY, scope).next
    assert cursor is not None
    return cursor


@pytest.mark.parametrize(
    "changes", [{"page": 2}, {"sort": "-name"}, {"tag": "red"}, {"cursor": "x" + "A" * 40}]
)
def test_a_cursor_that_is_altered_or_contradicted_is_invalid(changes: dict[str, object]) -> None:
    cursor = first_cursor()
    assert documents.continue_from(ItemQuery(cursor=cursor), KEY, SCOPE)[0].sort == "name"
    with pytest.raises(InvalidCursorError):
        documents.continue_from(ItemQuery.model_validate({"cursor": cursor, **changes}), KEY, SCOPE)


def test_a_cursor_is_valid_only_for_the_list_that_gave_it() -> None:
    """Another resource's cursor, signed with the same key, is refused (issue: it gave 200)."""
    with pytest.raises(InvalidCursorError, match="another list"):
        documents.continue_from(ItemQuery(cursor=first_cursor("others")), KEY, SCOPE)
    # A cursor of a release that did not sign the list in names no list: refused too.
    unscoped = cursors.encode({"s": "name", "t": None, "v": "a", "i": str(ObjectId())}, KEY)
    with pytest.raises(InvalidCursorError, match="another list"):
        documents.continue_from(ItemQuery(cursor=unscoped), KEY, SCOPE)


def test_a_stored_document_the_stored_model_refuses_is_unreadable_naming_its_fields() -> None:
    """What the collection's validator refuses on update: an unknown field, a missing one."""
    stored = documents.new_document(ItemCreate(name="lamp"), ObjectId())
    documents.check_stored(stored)
    changes: list[tuple[dict[str, object], str]] = [
        ({"extra": 1}, "extra"),
        ({"version": "two"}, "version"),
    ]
    for change, field in changes:
        with pytest.raises(UnreadableDocumentError) as raised:
            documents.check_stored({**stored, **change})
        assert raised.value.failures == {str(stored["_id"]): [field]}
    del stored["created_at"]
    with pytest.raises(UnreadableDocumentError, match=str(stored["_id"])):
        documents.check_stored(stored)
