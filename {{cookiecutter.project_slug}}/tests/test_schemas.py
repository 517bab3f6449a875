"""Request schemas: what a client may send."""

import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.schemas import ItemCreate, ItemQuery, ItemUpdate


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
