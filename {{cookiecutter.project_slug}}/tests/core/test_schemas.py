"""Shared schemas: field types every resource uses, and the list envelope."""

import re
import sys
import unicodedata

import pytest
from pydantic import TypeAdapter, ValidationError

from {{ cookiecutter.package_name }}.core.schemas import VISIBLE_PATTERN, IdempotencyKey, Name, Page

INVISIBLE_CATEGORIES = {"Cc", "Cf", "Zs", "Zl", "Zp"}


NAME = TypeAdapter(Name)


def test_names_are_stored_in_nfc_without_invisible_ends() -> None:
    decomposed = unicodedata.normalize("NFD", "Café")
    assert NAME.validate_python(decomposed) == "Café"
    assert NAME.validate_python(" \u200blamp\ufeff\t") == "lamp"


def test_names_keep_case_and_inner_joiners() -> None:
    assert NAME.validate_python("Lamp") != NAME.validate_python("lamp")
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert NAME.validate_python(family) == family


@pytest.mark.parametrize("name", [" ", "\u200b", "\t\n", "\u3000\u200d\ufeff", "\u2800"])
def test_blank_and_invisible_only_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="string_invisible"):
        NAME.validate_python(name)


def test_a_name_that_normalises_past_the_bound_is_refused_not_stored_too_long() -> None:
    """NFC writes U+0958 as two characters: 200 of them would store 400 (a 500 later)."""
    assert NAME.validate_python("\u0958" * 100) == unicodedata.normalize("NFC", "\u0958" * 100)
    with pytest.raises(ValidationError, match="once normalised"):
        NAME.validate_python("\u0958" * 101)


def test_the_schema_pattern_and_the_validator_agree_on_every_character() -> None:
    """The OpenAPI pattern accepts a one-character name exactly when the server does."""
    pattern = NAME.json_schema()["pattern"]
    assert pattern == VISIBLE_PATTERN
    visible = re.compile(pattern)
    for code_point in range(0x10000):
        if 0xD800 <= code_point <= 0xDFFF:
            continue  # surrogates are not characters
        char = chr(code_point)
        try:
            NAME.validate_python(char)
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


def test_a_page_has_the_same_envelope_keys_for_every_resource() -> None:
    page = Page[int](items=[1, 2], page=1, per_page=2, total=3, next=None)
    assert (page.items, page.page, page.per_page, page.total) == ([1, 2], 1, 2, 3)
    assert page.next is None
    assert list(page.model_dump()) == ["items", "page", "per_page", "total", "next"]
