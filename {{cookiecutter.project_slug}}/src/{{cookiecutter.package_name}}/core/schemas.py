"""Schemas every resource shares (pydantic v2): field types, the list envelope, problems, probes.

Field types for any resource (`Name`, `Tags`...); a resource's models derive from its `Fields`
(`crud.models`).
"""

import re
import unicodedata
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

OBJECT_ID_PATTERN = r"^[0-9a-fA-F]{24}$"

# Characters that show nothing by themselves: controls (Unicode category Cc), every
# white space (Zs, Zl, Zp), the format characters of the Basic Multilingual Plane (Cf:
# zero-width spaces and joiners, bidi marks, the BOM...) and the blank fillers (Hangul
# fillers, braille blank). Written as \\uXXXX escapes, which pydantic's regex engine,
# Python's `re` and ECMA-262 (OpenAPI clients) all read the same way.
INVISIBLE_CHARACTERS = (
    r"\u0000-\u0020\u007f-\u00a0\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891"
    r"\u08e2\u115f\u1160\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064"
    r"\u2066-\u206f\u2800\u3000\u3164\ufeff\uffa0\ufff9-\ufffb"
)
VISIBLE_PATTERN = f"[^{INVISIBLE_CHARACTERS}]"
"""A string matches (anywhere) when it holds at least one visible character."""

NAME_MAX_LENGTH = 200

_VISIBLE = re.compile(VISIBLE_PATTERN)
_INVISIBLE_ENDS = re.compile(f"^[{INVISIBLE_CHARACTERS}]+|[{INVISIBLE_CHARACTERS}]+$")


def normalize_name(value: str) -> str:
    """Return `value` in Unicode NFC without invisible characters at either end.

    Two names are the same name when these forms are equal, character for character:
    "Café" typed with a combining accent (NFD) equals "Café" typed precomposed (NFC),
    and " lamp\u200b" equals "lamp"; invisible characters inside a name are kept (a
    zero-width joiner inside an emoji sequence means something), and case stays
    significant ("Lamp" is not "lamp"). (Unicode Standard Annex #15, "Unicode
    Normalization Forms".)

    Raises:
        PydanticCustomError: `value` holds only invisible characters (no match of
            `VISIBLE_PATTERN`), or its normal form is longer than `NAME_MAX_LENGTH`
            (NFC lengthens a few characters: U+0958 becomes two); the client gets a 422.
    """
    if _VISIBLE.search(value) is None:
        raise PydanticCustomError(
            "string_invisible", "String should hold a visible character, not only invisible ones"
        )
    normal = _INVISIBLE_ENDS.sub("", unicodedata.normalize("NFC", value))
    if len(normal) > NAME_MAX_LENGTH:  # the stored name must fit the collection's bound too
        raise PydanticCustomError(
            "string_too_long",
            "String should have at most {max_length} characters once normalised (NFC)",
            {"max_length": NAME_MAX_LENGTH},
        )
    return normal


# The bounds and the pattern apply to the name as sent, so the OpenAPI schema states
# exactly what the server accepts; the stored name is the normalised one.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=NAME_MAX_LENGTH),
    AfterValidator(normalize_name),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": NAME_MAX_LENGTH,
            "pattern": VISIBLE_PATTERN,
        }
    ),
]
Description = Annotated[str, StringConstraints(max_length=2000)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Tags = Annotated[list[Tag], Field(max_length=20)]
# The `Idempotency-Key` header (IETF httpapi draft) is a Structured Field sf-string
# (RFC 9651 section 3.3.3): printable ASCII in double quotes, with `\"` and `\\` escaped.
# Many clients send the key bare, as a token (e.g. a UUID), so a bare RFC 9110 token is
# accepted too and names the same key as its quoted form (`idempotency.parse_key`).
# OpenAPI publishes this pattern: it is exactly what the service accepts.
IDEMPOTENCY_KEY_PATTERN = r"""^(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|"(?:[ !#-\[\]-~]|\\["\\])+")$"""
IdempotencyKey = Annotated[str, StringConstraints(pattern=IDEMPOTENCY_KEY_PATTERN, max_length=255)]
IDEMPOTENCY_KEY_DESCRIPTION = (
    "Makes a retried POST safe (IETF draft-ietf-httpapi-idempotency-key-header): the first "
    "response for a key is replayed to a retry with the same body; another body is a 422, a "
    'retry while the first is still running a 409 with Retry-After. A quoted string ("...") '
    "or a bare token, e.g. a UUID; at most 255 characters."
)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a resource's list: the same envelope keys for every resource.

    A resource subclasses it (`class ItemPage(Page[ItemRead])`), so its OpenAPI
    component keeps the resource's own name.
    """

    items: list[T]
    page: int | None
    """The page number asked for with `page`; null on a page reached with `cursor`."""
    per_page: int
    total: int | None
    """Documents matching the filter, over all pages; null on a page reached with
    `cursor`, which skips the count (it costs O(matching documents))."""
    next: str | None
    """Opaque cursor of the following page (send it as `cursor`); null on the last page."""


class Liveness(BaseModel):
    """Body of `GET /health/live`."""

    status: Literal["ok"] = "ok"
    uptime_seconds: float


class Readiness(BaseModel):
    """Body of a successful `GET /health/ready`."""

    status: Literal["ok"] = "ok"
    checks: dict[str, str]


class Problem(BaseModel):
    """An RFC 9457 problem details object (`application/problem+json`)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class ValidationIssue(BaseModel):
    """One reason a request failed validation."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(Problem):
    """A 422 problem: the request was well-formed JSON but failed the schema."""

    errors: list[ValidationIssue]
