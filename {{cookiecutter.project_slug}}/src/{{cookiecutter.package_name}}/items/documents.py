"""How items are stored in MongoDB: the document shape, filters, sorts and update specs.

Pure functions shared by the sync and async repositories, so both store and query
exactly the same way. `ItemDocument` is the stored shape, and the one place to change
it: the collection's validator (`VALIDATOR`) is derived from it, so MongoDB refuses
what the model refuses, whoever writes.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from bson import ObjectId
from bson.errors import InvalidId
from pydantic import ConfigDict, Field

from ..bson_schema import ObjectIdField, validator
from ..clock import utcnow
from ..errors import NotFoundError
from .schemas import ItemCreate, ItemQuery, ItemRead

RESOURCE = "item"
"""The resource's name (snake_case singular) in error messages; `ITEMS.name` too."""
COLLECTION = "items"

# (keys, options) for create_index: unique names; listing by tag and in each sort order.
INDEXES: list[tuple[list[tuple[str, int]], dict[str, Any]]] = [
    ([("name", 1)], {"unique": True, "name": "name_unique"}),
    ([("created_at", 1), ("_id", 1)], {"name": "created_at_id"}),
    ([("tags", 1), ("created_at", 1), ("_id", 1)], {"name": "tags_created_at_id"}),
]

# The collection's validator: MongoDB refuses a document that does not match it.
# Placeholder: derived from the stored model in the validators change.
VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["_id", "name", "tags", "created_at", "updated_at", "version"],
        "properties": {
            "_id": {"bsonType": "objectId"},
            "name": {"bsonType": "string"},
            "description": {"bsonType": ["string", "null"]},
            # No `"items"` keyword here: renaming the resource would rename that string.
            "tags": {"bsonType": "array"},
            "created_at": {"bsonType": "date"},
            "updated_at": {"bsonType": "date"},
            "version": {"bsonType": ["int", "long"]},
        },
    }
}


class ItemDocument(ItemCreate):
    """An item as stored in its collection: what a client sends, plus what the service adds.

    It extends `ItemCreate`, so a field added there is stored, read and enforced by the
    collection's validator with no other edit, under the same constraints. The validator
    requires every field without a default: a field added later needs a default (then
    documents stored before it stay valid) or a migration that backfills it first.
    """

    # strict: a BSON type is never coerced (an int is not 1.0, a date not a string).
    model_config = ConfigDict(strict=True, extra="forbid")

    id: ObjectIdField = Field(alias="_id")
    created_at: datetime
    updated_at: datetime
    version: Annotated[int, Field(ge=1)]


VALIDATOR: dict[str, Any] = validator(ItemDocument)
"""The collection's `$jsonSchema` validator, derived from `ItemDocument`."""


def object_id(item_id: str) -> ObjectId:
    """Return the ObjectId of `item_id`.

    Raises:
        NotFoundError: `item_id` is not 24 hex digits, so no item can have it.
    """
    try:
        return ObjectId(item_id)
    except (InvalidId, TypeError):
        raise NotFoundError(RESOURCE, item_id) from None


def new_document(item_in: ItemCreate, item_id: ObjectId | None = None) -> dict[str, Any]:
    """Return the document to insert for a new item (version 1), with `_id` when given.

    It is an `ItemDocument` (tests/items/test_validator.py); the collection's validator
    checks it on insert. Without `item_id` the driver adds a fresh `_id` on insert.
    """
    now = utcnow()
    document = {**item_in.model_dump(), "created_at": now, "updated_at": now, "version": 1}
    if item_id is not None:
        document["_id"] = item_id
    return document


def to_item(document: dict[str, Any]) -> ItemRead:
    """Return the API view of a stored document."""
    return ItemRead(
        id=str(document["_id"]),
        name=document["name"],
        description=document.get("description"),
        tags=document.get("tags", []),
        created_at=document["created_at"],
        updated_at=document["updated_at"],
        version=document["version"],
    )


def item_filter(item_id: str, versions: Sequence[int] | None = None) -> dict[str, Any]:
    """Return the filter for one item, optionally only at one of `versions` (If-Match)."""
    query: dict[str, Any] = {"_id": object_id(item_id)}
    if versions is not None:
        query["version"] = {"$in": list(versions)}
    return query


def list_filter(query: ItemQuery) -> dict[str, Any]:
    """Return the filter for `GET /api/v1/items` (the tag is matched exactly)."""
    return {} if query.tag is None else {"tags": query.tag}


def sort_spec(query: ItemQuery) -> list[tuple[str, int]]:
    """Return a stable sort: the requested key, then `_id` in the same direction."""
    direction = -1 if query.sort.startswith("-") else 1
    return [(query.sort.lstrip("-"), direction), ("_id", direction)]


def update_spec(changes: dict[str, Any]) -> dict[str, Any]:
    """Return an atomic update: set `changes`, bump `version`, stamp `updated_at`."""
    return {"$set": {**changes, "updated_at": utcnow()}, "$inc": {"version": 1}}
