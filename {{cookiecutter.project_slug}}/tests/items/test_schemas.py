"""Item schemas: what a client may send, and a page as it is read."""

import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.items.schemas import (
    ItemCreate,
    ItemPage,
    ItemQuery,
    ItemUpdate,
)
from {{ cookiecutter.package_name }}.schemas import VISIBLE_PATTERN, Page


def test_item_update_keeps_only_given_fields() -> None:
    assert ItemUpdate(description=None).model_dump(exclude_unset=True) == {"description": None}


@pytest.mark.parametrize("body", [{}, {"name": None}, {"tags": None}, {"id": "x"}])
def test_item_update_rejects_empty_null_and_unknown(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ItemUpdate.model_validate(body)


def test_item_create_rejects_operator_objects() -> None:
    with pytest.raises(ValidationError):
        ItemCreate.model_validate({"name": {"$gt": ""}})


def test_item_query_rejects_unknown_parameters() -> None:
    with pytest.raises(ValidationError):
        ItemQuery.model_validate({"tag[$ne]": "x"})


def test_an_empty_cursor_is_refused_by_the_schema_it_declares() -> None:
    """`cursor=` fails validation (422) as the OpenAPI schema says, not the cursor check (400)."""
    with pytest.raises(ValidationError, match="at least 1 character"):
        ItemQuery.model_validate({"cursor": ""})
    assert ItemQuery.model_json_schema()["properties"]["cursor"]["anyOf"][0]["minLength"] == 1


def test_names_are_normalised_and_refused_blank_on_create_and_update() -> None:
    assert ItemCreate(name=" lamp\u200b").name == "lamp"
    assert ItemUpdate(name="  lamp ").name == "lamp"
    assert ItemCreate.model_json_schema()["properties"]["name"]["pattern"] == VISIBLE_PATTERN
    with pytest.raises(ValidationError, match="string_invisible"):
        ItemUpdate(name="\u200b")


def test_a_page_keeps_the_resource_name_in_its_schema_and_the_shared_envelope_keys() -> None:
    schema = ItemPage.model_json_schema()
    assert schema["title"] == "ItemPage"
    assert list(schema["properties"]) == [*Page.model_fields]
