"""ETag formatting and If-Match parsing (RFC 9110)."""

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.core.crud.etags import IF_MATCH_PATTERN, etag, parse_if_match
from {{ cookiecutter.package_name }}.core.errors import MalformedHeaderError

# Values outside the grammar (RFC 9110 section 13.1.1), or lists with no tag at all.
MALFORMED = [
    "3",
    '"3',
    "",
    '"3";x',
    "null",
    ",",
    '"3" "4"',
    '"3",x',
    'w/"3"',
    '"\u0663"',
    "* ,",
    '"3"\n',
    '\n"3"',
    '"3",\r\n',
    " , \t",
]
# Values the grammar allows that Schemathesis sent and a release refused with 400:
# empty elements, tabs, a trailing comma, whitespace around the value.
SCHEMATHESIS_FOUND = [
    ',   \t""',
    ', ,\t"1" ,,\t, "2"',
    'W/"a" \t, "b" ,',
    ' "3" ',
    "\t*\t",
    '"3",\t',
]
# Characters of the If-Match grammar and some outside it, for values of every shape.
ALPHABET = st.sampled_from([*' \t,"*W/w13a;\x7f\x80\xff\n\r\\', "\u0663"])


def accepts(value: str) -> bool:
    """Return whether `parse_if_match` accepts `value` (no MalformedHeaderError)."""
    try:
        parse_if_match(value)
    except MalformedHeaderError:
        return False
    return True


def test_etag_is_the_quoted_version() -> None:
    assert etag(3) == '"3"'


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        (None, None),
        ("*", None),
        (" * ", None),
        ('"3"', [3]),
        ('"1", "2"', [1, 2]),
        ('"1",\t"2" ,"3"', [1, 2, 3]),
        ('W/"3"', []),
        ('"abc"', []),
        ('""', []),
        ('"' + "9" * 30 + '"', []),
        ('"\xe9"', []),
    ],
)
def test_if_match_yields_accepted_versions(header: str | None, versions: list[int] | None) -> None:
    assert parse_if_match(header) == versions


@pytest.mark.parametrize("tag", ['"03"', '"003"', '"+3"', '"3.0"', '"0x3"', '"3_0"'])
def test_if_match_compares_strongly_so_a_number_spelled_otherwise_is_no_match(tag: str) -> None:
    """`"03"` is not the ETag `"3"`: strong comparison is character by character."""
    assert parse_if_match(tag) == []
    assert parse_if_match(f"{tag}, {etag(3)}") == [3]


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        ('"a,b"', []),
        ('"a,b", "3"', [3]),
        ('"3,4"', []),
        ('",", "3"', [3]),
        ('"3", W/"4,5", "6"', [3, 6]),
    ],
)
def test_if_match_tags_may_contain_commas(header: str, versions: list[int]) -> None:
    """A comma inside a quoted tag belongs to the tag (etagc includes it), not to the list."""
    assert parse_if_match(header) == versions


@pytest.mark.parametrize(
    ("header", "versions"), [('"1", , "2"', [1, 2]), (', "1",', [1]), ('"1",,,"2"', [1, 2])]
)
def test_if_match_ignores_empty_list_elements(header: str, versions: list[int]) -> None:
    """Recipients must accept empty list elements (RFC 9110 section 5.6.1.2)."""
    assert parse_if_match(header) == versions


@pytest.mark.parametrize("header", MALFORMED)
def test_malformed_if_match_raises(header: str) -> None:
    with pytest.raises(MalformedHeaderError):
        parse_if_match(header)


@pytest.mark.parametrize("header", SCHEMATHESIS_FOUND)
def test_list_values_with_empty_elements_tabs_and_outer_spaces_are_accepted(header: str) -> None:
    """RFC 9110 sections 5.6.1 (empty list elements) and 5.5 (whitespace around a value)."""
    assert accepts(header)


@pytest.mark.parametrize(
    "header", ['"3"', '"a,b", W/"c"', "*", '"1", , "2"', *SCHEMATHESIS_FOUND, *MALFORMED]
)
def test_the_openapi_pattern_accepts_exactly_what_the_parser_accepts(header: str) -> None:
    """The documents declare `IF_MATCH_PATTERN`; a value it allows is never refused."""
    assert (re.fullmatch(IF_MATCH_PATTERN, header) is not None) is accepts(header)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(st.from_regex(IF_MATCH_PATTERN, fullmatch=True))
def test_every_value_the_declared_pattern_generates_is_parsed(header: str) -> None:
    """What a client builds from the OpenAPI pattern (as Schemathesis does) is never a 400."""
    assert accepts(header), repr(header)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    st.text(ALPHABET, max_size=12)
    | st.from_regex(IF_MATCH_PATTERN, fullmatch=True).map(lambda value: value[:-1])
)
@example('"1"\n')
def test_the_parser_accepts_a_value_only_if_the_declared_pattern_matches_it(header: str) -> None:
    """Pattern and parser accept the same language: no value is accepted outside the pattern.

    As JSON Schema reads a `pattern` (ECMA-262), `^...$` must match the whole value; in
    Python that is `re.fullmatch` (`re.search` would let `$` match before a final newline).
    """
    assert accepts(header) is (re.fullmatch(IF_MATCH_PATTERN, header) is not None), repr(header)
