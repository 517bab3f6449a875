"""How items are stored: the resource's names, ids and the stored shape."""

import pytest

from {{ cookiecutter.package_name }}.errors import NotFoundError
from {{ cookiecutter.package_name }}.items import ITEMS, documents
from {{ cookiecutter.package_name }}.items.schemas import ItemCreate, ItemQuery


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
    assert documents.sort_spec(ItemQuery(sort="-name")) == [("name", -1), ("_id", -1)]
    assert documents.sort_spec(ItemQuery(sort="created_at")) == [("created_at", 1), ("_id", 1)]
