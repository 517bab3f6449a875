"""Request and response schemas of the HTTP API (pydantic v2), shared by both frameworks."""

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
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
            `VISIBLE_PATTERN`); the client gets a 422.
    """
    if _VISIBLE.search(value) is None:
        raise PydanticCustomError(
            "string_invisible", "String should hold a visible character, not only invisible ones"
        )
    return _INVISIBLE_ENDS.sub("", unicodedata.normalize("NFC", value))


# The bounds and the pattern apply to the name as sent, so the OpenAPI schema states
# exactly what the server accepts; the stored name is the normalised one.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(normalize_name),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 200, "pattern": VISIBLE_PATTERN}
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
SortKey = Literal["created_at", "-created_at", "name", "-name"]


class ItemCreate(BaseModel):
    """Body of `POST /api/v1/items` and `PUT /api/v1/items/{item_id}` (full replace)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    tags: Tags = []


class ItemUpdate(BaseModel):
    """Body of `PATCH /api/v1/items/{item_id}`: any non-empty subset of the fields.

    `name` and `tags` may be omitted but not null; `description` may be null (cleared).
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    # None only stands for "omitted" (kept out of `model_dump(exclude_unset=True)`);
    # an explicit null is rejected, so the schema shows no null (SkipJsonSchema).
    name: Name | SkipJsonSchema[None] = None
    description: Description | None = None
    tags: Tags | SkipJsonSchema[None] = None

    @field_validator("name", "tags")
    @classmethod
    def _reject_null(cls, value: object) -> object:
        """Refuse an explicit null for fields that cannot be empty."""
        if value is None:
            raise ValueError("may be omitted but not null")
        return value

    @model_validator(mode="after")
    def _require_a_field(self) -> "ItemUpdate":
        """Reject an empty body: a PATCH must change something."""
        if not self.model_fields_set:
            raise ValueError("at least one field is required")
        return self


class ItemRead(BaseModel):
    """An item as the API returns it."""

    id: Annotated[str, Field(pattern=OBJECT_ID_PATTERN, examples=["6740f2a7c6b1f2a9d0e4b1c3"])]
    name: str
    description: str | None
    tags: list[str]
    created_at: datetime
    """When the item was created (UTC, RFC 3339)."""
    updated_at: datetime
    """When the item last changed (UTC, RFC 3339)."""
    version: int
    """Starts at 1 and grows by 1 on every change; the ETag is `"<version>"`."""


class ItemPage(BaseModel):
    """One page of `GET /api/v1/items`."""

    items: list[ItemRead]
    page: int
    per_page: int
    total: int
    """Items matching the filter, over all pages."""


class ItemQuery(BaseModel):
    """Query parameters of `GET /api/v1/items`; unknown parameters are rejected (422)."""

    model_config = ConfigDict(extra="forbid")

    page: int = Field(1, ge=1, le=10_000)
    per_page: int = Field(20, ge=1, le=100)
    tag: Tag | None = None
    sort: SortKey = "-created_at"


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
