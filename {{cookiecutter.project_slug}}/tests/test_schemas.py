"""Request schemas: what a client may send."""

import pytest
from pydantic import TypeAdapter, ValidationError

from {{ cookiecutter.package_name }}.schemas import IdempotencyKey, ItemCreate, ItemQuery, ItemUpdate


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


@pytest.mark.parametrize(
    "value",
    ["k", "8e03978e-40d5-43e8-bc93-6894a57f9324", '"a b"', r'"q\"q"', r'"\\"', "k" * 255],
)
def test_idempotency_key_accepts_tokens_and_sf_strings(value: str) -> None:
    assert TypeAdapter(IdempotencyKey).validate_python(value) == value


@pytest.mark.parametrize(
    "value", ["", '""', '"', '"a', 'a"', "a b", r'"a\b"', '"a"b"', "é", "k" * 256, "k\n"]
)
def test_idempotency_key_rejects_anything_else(value: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(IdempotencyKey).validate_python(value)
