"""ETags and `If-Match` (RFC 9110 sections 8.8.3 and 13.1.1): optimistic concurrency.

An item's ETag is its version as a strong entity tag, e.g. `"3"`.
"""

import re

from .errors import MalformedHeaderError

_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e]*)"\s*')
_MAX_VERSION_DIGITS = 18  # fits MongoDB's 64-bit integers; longer tags never match


def etag(version: int) -> str:
    """Return the strong ETag of an item version, e.g. `"3"`."""
    return f'"{version}"'


def parse_if_match(value: str | None) -> list[int] | None:
    """Parse an `If-Match` header into the versions it accepts.

    Returns:
        None when there is no condition (header absent or `*`); otherwise the
        versions named by strong ETags, possibly empty. Weak (`W/`) and foreign
        tags never match (If-Match uses strong comparison), so they add nothing.

    Raises:
        MalformedHeaderError: the value is not a comma-separated list of entity tags.
    """
    if value is None or value.strip() == "*":
        return None
    versions: list[int] = []
    for part in value.split(","):
        match = _ENTITY_TAG.fullmatch(part)
        if match is None:
            raise MalformedHeaderError(
                'If-Match must be "*" or a list of quoted ETags such as "3".'
            )
        weak, tag = match.groups()
        if not weak and tag.isdigit() and len(tag) <= _MAX_VERSION_DIGITS:
            versions.append(int(tag))
    return versions
