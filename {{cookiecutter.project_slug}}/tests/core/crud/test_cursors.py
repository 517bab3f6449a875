"""Opaque list cursors: what `encode` signs, `decode` gives back, and nothing else."""

import pytest

from {{ cookiecutter.package_name }}.core.crud.cursors import decode, encode, next_link, signing_key
from {{ cookiecutter.package_name }}.core.errors import InvalidCursorError

POSITION = {"s": "name", "t": None, "v": "lamp", "i": "0123456789abcdef01234567"}


def test_a_cursor_gives_back_its_position_and_is_url_safe() -> None:
    cursor = encode(POSITION, signing_key("secret"))
    assert decode(cursor, signing_key("secret")) == POSITION
    assert cursor.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize("secret", [None, "secret"])
def test_an_edited_or_cut_cursor_is_refused(secret: str | None) -> None:
    key = signing_key(secret)
    cursor = encode(POSITION, key)
    edited = cursor[:30] + ("A" if cursor[30] != "A" else "B") + cursor[31:]
    for bad in (edited, cursor[:-4], "", "!" * 40, "A" * 2000):
        with pytest.raises(InvalidCursorError):
            decode(bad, key)


def test_a_cursor_made_with_another_secret_is_refused() -> None:
    with pytest.raises(InvalidCursorError):
        decode(encode(POSITION, signing_key("one")), signing_key("other"))


def test_the_next_link_is_an_rfc_8288_link_to_the_cursor() -> None:
    assert next_link("/api/v1/items", "abc", 5) == (
        '</api/v1/items?cursor=abc&per_page=5>; rel="next"'
    )
