"""Opaque list cursors: a position in a sorted list, signed so a client cannot alter it.

A cursor is base64url (no padding) of a 16-byte BLAKE2b tag followed by the position
as compact JSON. The tag is keyed by the `cursor_secret` setting: without a secret it
still catches a cursor that was edited or cut short; with one, nobody without the
secret can forge a cursor (RFC 7693; `hashlib.blake2b(key=...)` is a MAC).
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
from typing import Any

from ..errors import InvalidCursorError

TAG_BYTES = 16
MAX_CURSOR_LENGTH = 1024
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
MALFORMED = "The cursor is malformed or was altered; start again from the first page."


def signing_key(secret: str | None) -> bytes:
    """Return the BLAKE2b key derived from `secret` (empty without one: an unkeyed tag)."""
    if not secret:
        return b""
    return hashlib.blake2b(secret.encode(), digest_size=32, person=b"cursor-key").digest()


def _tag(payload: bytes, key: bytes) -> bytes:
    """Return the tag of `payload` under `key`."""
    return hashlib.blake2b(payload, key=key, digest_size=TAG_BYTES).digest()


def encode(position: dict[str, Any], key: bytes) -> str:
    """Return the opaque cursor for `position` (JSON-serialisable values only)."""
    payload = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_tag(payload, key) + payload).rstrip(b"=").decode("ascii")


def decode(cursor: str, key: bytes) -> dict[str, Any]:
    """Return the position a cursor made by `encode` with `key` holds.

    Raises:
        InvalidCursorError: the cursor is not base64url, too long, or its tag does not
            match its content (edited, cut short, or made with another key).
    """
    if len(cursor) > MAX_CURSOR_LENGTH or not _BASE64URL.match(cursor):
        raise InvalidCursorError(MALFORMED)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursorError(MALFORMED) from None
    tag, payload = raw[:TAG_BYTES], raw[TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(payload, key)):
        raise InvalidCursorError(MALFORMED)
    try:
        position = json.loads(payload)
    except ValueError:
        raise InvalidCursorError(MALFORMED) from None
    if not isinstance(position, dict):
        raise InvalidCursorError(MALFORMED)
    return position


def next_link(path: str, cursor: str, per_page: int) -> str:
    """Return the `Link` header value of the next page (RFC 8288), relative to the server.

    A cursor is base64url, so it needs no percent-encoding in the query string.
    """
    return f'<{path}?cursor={cursor}&per_page={per_page}>; rel="next"'
