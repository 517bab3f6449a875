"""Request schemas: what a client may send."""

import re
import sys
import unicodedata

import pytest
from pydantic import TypeAdapter, ValidationError

from {{ cookiecutter.package_name }}.schemas import (
    VISIBLE_PATTERN,
    IdempotencyKey,
    ItemCreate,
    ItemQuery,
    ItemUpdate,
)

INVISIBLE_CATEGORIES = {"Cc", "Cf", "Zs", "Zl", "Zp"}


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


def test_names_are_stored_in_nfc_without_invisible_ends() -> None:
    decomposed = unicodedata.normalize("NFD", "Café")
    assert ItemCreate(name=decomposed).name == "Café"
    assert ItemCreate(name=" \u200blamp\ufeff\t").name == "lamp"
    assert ItemUpdate(name="  lamp ").name == "lamp"


def test_names_keep_case_and_inner_joiners() -> None:
    assert ItemCreate(name="Lamp").name != ItemCreate(name="lamp").name
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert ItemCreate(name=family).name == family


@pytest.mark.parametrize("name", [" ", "\u200b", "\t\n", "\u3000\u200d\ufeff", "\u2800"])
def test_blank_and_invisible_only_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="string_invisible"):
        ItemCreate(name=name)
    with pytest.raises(ValidationError, match="string_invisible"):
        ItemUpdate(name=name)


def test_the_schema_pattern_and_the_validator_agree_on_every_character() -> None:
    """The OpenAPI pattern accepts a one-character name exactly when the server does."""
    pattern = ItemCreate.model_json_schema()["properties"]["name"]["pattern"]
    assert pattern == VISIBLE_PATTERN
    visible = re.compile(pattern)
    for code_point in range(0x10000):
        if 0xD800 <= code_point <= 0xDFFF:
            continue  # surrogates are not characters
        char = chr(code_point)
        try:
            ItemCreate(name=char)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == bool(visible.search(char)), hex(code_point)


def test_every_control_format_and_space_character_counts_as_invisible() -> None:
    """Every BMP character of Unicode categories Cc, Cf, Zs, Zl, Zp is in the set."""
    visible = re.compile(VISIBLE_PATTERN)
    missing = [
        hex(code_point)
        for code_point in range(0x10000)
        if unicodedata.category(chr(code_point)) in INVISIBLE_CATEGORIES
        and visible.search(chr(code_point))
    ]
    assert missing == [], f"Unicode {unicodedata.unidata_version} (Python {sys.version_info[:2]})"


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
