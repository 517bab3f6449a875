"""ETags and `If-Match` (RFC 9110 sections 8.8.3 and 13.1.1): optimistic concurrency.

An item's ETag is its version as a strong entity tag, e.g. `"3"`.
"""

import re

from ..errors import MalformedHeaderError

# RFC 9110 section 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, where
# etagc = %x21 / %x23-7E / obs-text: any visible character but `"`, so `,` too.
_ENTITY_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_OWS = r"[ \t]*"
IF_MATCH_PATTERN = (
    rf"^{_OWS}(?:\*|(?:,{_OWS})*{_ENTITY_TAG}(?:{_OWS},(?:{_OWS}{_ENTITY_TAG})?)*){_OWS}$"
)
"""The `If-Match` field values this service accepts: `*` or a list of entity tags.

RFC 9110 section 13.1.1: `"*" / #entity-tag`, a comma-separated list (section 5.6.1)
with spaces or tabs around the commas and empty elements, which recipients must
accept (`"1", , "2"`, `, "1",`); at least one tag, since a list of none could never
match. Spaces and tabs around the whole value are allowed too: they are not part of a
field value (section 5.5), and gunicorn strips them but uvicorn's httptools parser
does not. The OpenAPI documents declare it as the header's `pattern` and
`parse_if_match` accepts a value exactly when it matches the whole value
(`re.fullmatch`, which is what `^...$` means to ECMA-262, JSON Schema's regex
dialect); tests/test_etags.py proves both directions with generated values. Written
in the regex subset that ECMA-262 and Python's `re` read alike; no two ways to match a
value, so matching takes time linear in its length.
"""
IF_MATCH_DESCRIPTION = (
    'Change only if the ETag is still one of these, e.g. `"3"` or `"3", "4"`, compared '
    'character by character (`"03"` is not `"3"`); `*`: whatever the version.'
)

_IF_MATCH = re.compile(IF_MATCH_PATTERN)
_TAG = re.compile(r'(W/)?"([^"]*)"')
# What `etag` makes of a version: decimal without leading zeros, at most 18 digits
# (MongoDB's 64-bit integers). Any other tag differs from every ETag this service sends.
_VERSION = re.compile(r"[1-9][0-9]{0,17}")


def etag(version: int) -> str:
    """Return the strong ETag of an item version, e.g. `"3"`."""
    return f'"{version}"'


def parse_if_match(value: str | None) -> list[int] | None:
    """Parse an `If-Match` header into the versions it accepts.

    If-Match uses strong comparison (RFC 9110 section 8.8.3.2): two tags match when
    neither is weak and their opaque strings are identical, character by character.
    So `"03"` does not match `"3"`, and `W/"3"` matches nothing.

    Returns:
        None when there is no condition (header absent or `*`); otherwise the
        versions whose ETag is one of the listed strong tags, possibly empty.

    Raises:
        MalformedHeaderError: the value does not match `IF_MATCH_PATTERN` (as a whole).
    """
    if value is None:
        return None
    if _IF_MATCH.fullmatch(value) is None:
        raise MalformedHeaderError('If-Match must be "*" or a list of quoted ETags such as "3".')
    if value.strip(" \t") == "*":
        return None
    return [
        int(tag)
        for weak, tag in _TAG.findall(value)
        if not weak and _VERSION.fullmatch(tag) is not None
    ]
