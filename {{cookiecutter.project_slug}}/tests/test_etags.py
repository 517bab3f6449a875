"""ETag formatting and If-Match parsing (RFC 9110)."""

import pytest

from {{ cookiecutter.package_name }}.errors import MalformedHeaderError
from {{ cookiecutter.package_name }}.etags import etag, parse_if_match


def test_etag_is_the_quoted_version() -> None:
    assert etag(3) == '"3"'


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        (None, None),
        ("*", None),
        ('"3"', [3]),
        ('"1", "2"', [1, 2]),
        ('W/"3"', []),
        ('"abc"', []),
        ('"' + "9" * 30 + '"', []),
    ],
)
def test_if_match_yields_accepted_versions(header: str | None, versions: list[int] | None) -> None:
    assert parse_if_match(header) == versions


@pytest.mark.parametrize("header", ["3", '"3', "", '"3";x'])
def test_malformed_if_match_raises(header: str) -> None:
    with pytest.raises(MalformedHeaderError):
        parse_if_match(header)
