"""Request and response schemas of the HTTP API (pydantic v2), shared by both frameworks."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

OBJECT_ID_PATTERN = r"^[0-9a-fA-F]{24}$"

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
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
