"""Request and response schemas of the items API (pydantic v2), shared by both frameworks."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from ..schemas import OBJECT_ID_PATTERN, Description, Name, Page, Tag, Tags

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


class ItemPage(Page[ItemRead]):
    """One page of `GET /api/v1/items`."""


class ItemQuery(BaseModel):
    """Query parameters of `GET /api/v1/items`; unknown parameters are rejected (422)."""

    model_config = ConfigDict(extra="forbid")

    page: int = Field(1, ge=1, le=10_000)
    per_page: int = Field(20, ge=1, le=100)
    tag: Tag | None = None
    sort: SortKey = "-created_at"
    # At least one character: an empty `cursor=` is refused by the schema (422), as the
    # OpenAPI document declares, not taken for a cursor the service never issued (400).
    cursor: str | None = Field(
        None,
        min_length=1,
        description=(
            "Continue after the page that gave this `next` cursor, at O(page) cost; "
            "keeps its `tag` and `sort`. With `page` > 1, another `tag` or `sort`, "
            "altered, or from another list: 400."
        ),
    )
