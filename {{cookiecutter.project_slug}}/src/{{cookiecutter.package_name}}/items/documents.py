"""How items are stored in MongoDB: the document shape, filters, sorts and update specs.

Pure functions shared by the sync and async repositories, so both store and query
exactly the same way. `ItemDocument` is the stored shape, and the one place to change
it: the collection's validator (`VALIDATOR`) is derived from it, so MongoDB refuses
what the model refuses, whoever writes.
"""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from bson import ObjectId
from bson.errors import InvalidId
from pydantic import ConfigDict, Field, ValidationError

from .. import cursors
from ..bson_schema import ObjectIdField, validator
from ..clock import utcnow
from ..errors import InvalidCursorError, NotFoundError, UnreadableDocumentError
from .schemas import ItemCreate, ItemPage, ItemQuery, ItemRead

RESOURCE = "item"
"""The resource's name (snake_case singular) in error messages; `ITEMS.name` too."""
COLLECTION = "items"

# (keys, options) for create_index. Every query the service sends is served by one of
# them, in its sort order (tests/items/test_indexes.py runs `explain` on each shape):
# by id (`_id_`), by name (`name_unique`, also both name sorts), both created_at sorts
# without a tag, and each sort with a tag. Name is unique, so it needs no `_id` tiebreak.
INDEXES: list[tuple[list[tuple[str, int]], dict[str, Any]]] = [
    ([("name", 1)], {"unique": True, "name": "name_unique"}),
    ([("created_at", 1), ("_id", 1)], {"name": "created_at_id"}),
    ([("tags", 1), ("created_at", 1), ("_id", 1)], {"name": "tags_created_at_id"}),
    ([("tags", 1), ("name", 1)], {"name": "tags_name"}),
]


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

REFUSED_UPDATES = frozenset({14, 121})
"""MongoDB error codes of an update refused for what the stored document holds:
TypeMismatch (14: `$inc` on a `version` that is no number) and
DocumentValidationFailure (121: the result fails the collection's validator, which a
change the API validated can only do to a document that failed it already).
Source: MongoDB's `src/mongo/base/error_codes.yml`."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_CURSOR_MISMATCH = (
    "A cursor keeps the tag and sort of the page that gave it and cannot be combined with "
    "page; drop {names} or start again from the first page."
)
_CURSOR_ELSEWHERE = (
    "The cursor belongs to another list than this one; follow the next cursor this list "
    "gave, or start again from its first page."
)


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
    """Return the API view of a stored document.

    Raises:
        UnreadableDocumentError: the document fails the read model (names its id and
            the failing fields).
    """
    try:
        return _read(document)
    except (KeyError, ValidationError) as exc:
        raise UnreadableDocumentError(RESOURCE, {str(document["_id"]): _failing(exc)}) from None


def to_items(found: Iterable[dict[str, Any]]) -> list[ItemRead]:
    """Return the API view of stored documents, in order.

    Raises:
        UnreadableDocumentError: some fail the read model; it names every one of them,
            so a page never silently leaves a document out.
    """
    items: list[ItemRead] = []
    failures: dict[str, list[str]] = {}
    for document in found:
        try:
            items.append(_read(document))
        except (KeyError, ValidationError) as exc:
            failures[str(document["_id"])] = _failing(exc)
    if failures:
        raise UnreadableDocumentError(RESOURCE, failures)
    return items


def check_stored(document: dict[str, Any]) -> None:
    """Check a stored document against `ItemDocument`, the model its validator comes from.

    Stricter than reading it (`to_item`): a field the model does not know, or a
    missing field the read model would show as empty, fails here as it fails the
    collection's validator on the next update.

    Raises:
        UnreadableDocumentError: the document fails the model (names its id and the
            failing fields).
    """
    try:
        ItemDocument.model_validate(document)
    except ValidationError as exc:
        raise UnreadableDocumentError(RESOURCE, {str(document["_id"]): _failing(exc)}) from None


def _read(document: dict[str, Any]) -> ItemRead:
    """Return the read model of a stored document; a missing optional field reads as empty.

    Raises:
        KeyError: a required field is missing.
        ValidationError: a field is null or of another type (strictly: "3" is no version).
    """
    return _strictly(
        id=str(document["_id"]),
        name=document["name"],
        description=document.get("description"),
        tags=document.get("tags", []),
        created_at=document["created_at"],
        updated_at=document["updated_at"],
        version=document["version"],
    )


def _strictly(**fields: Any) -> ItemRead:
    """Validate `fields` as an `ItemRead` in strict mode (no type coercion)."""
    return ItemRead.model_validate(fields, strict=True)


def _failing(exc: KeyError | ValidationError) -> list[str]:
    """Return the dotted paths of the fields an error names, each once."""
    if isinstance(exc, KeyError):
        return [str(exc.args[0])]
    return list(dict.fromkeys(".".join(map(str, issue["loc"])) for issue in exc.errors()))


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
    """Return a stable sort: the requested key, then `_id` in the same direction.

    Names are unique, so a name sort needs no tiebreak (and `name_unique` serves it).
    """
    key, direction = _sort_key(query)
    return [(key, direction)] if key == "name" else [(key, direction), ("_id", direction)]


def index_for(query: ItemQuery) -> str:
    """Return the name of the index (in `INDEXES`) that serves the list query in sort order."""
    key, _ = _sort_key(query)
    if query.tag is None:
        return "name_unique" if key == "name" else "created_at_id"
    return "tags_name" if key == "name" else "tags_created_at_id"


def _sort_key(query: ItemQuery) -> tuple[str, int]:
    """Return the sort field and its direction (1 ascending, -1 descending)."""
    return query.sort.lstrip("-"), -1 if query.sort.startswith("-") else 1


def continue_from(
    query: ItemQuery, key: bytes, scope: str
) -> tuple[ItemQuery, dict[str, Any] | None]:
    """Return the query a cursor continues (its tag and sort) and the filter past its position.

    Without a cursor: `query` itself and None.

    Args:
        query: The list query as the client sent it.
        key: The cursor signing key (`cursors.signing_key`).
        scope: The collection listed: a cursor is valid only for the list that made it
            (`to_page` signs the collection into it).

    Raises:
        InvalidCursorError: the cursor is malformed or altered (`cursors.decode`), was
            made by another resource's list (or by a release that did not sign the
            collection in), or comes with `page` > 1 or a `tag` or `sort` other than
            its own.
    """
    if query.cursor is None:
        return query, None
    position = cursors.decode(query.cursor, key)
    if position.get("r") != scope:
        raise InvalidCursorError(_CURSOR_ELSEWHERE)
    sort, tag = position.get("s"), position.get("t")
    clashing = [
        name
        for name, differs in (
            ("page", query.page != 1),
            ("tag", "tag" in query.model_fields_set and query.tag != tag),
            ("sort", "sort" in query.model_fields_set and query.sort != sort),
        )
        if differs
    ]
    if clashing:
        raise InvalidCursorError(_CURSOR_MISMATCH.format(names=", ".join(clashing)))
    try:
        continued = ItemQuery.model_validate(
            {"sort": sort, "tag": tag, "per_page": query.per_page, "cursor": query.cursor}
        )
        return continued, _after(continued, position.get("v"), position.get("i"))
    except (ValidationError, InvalidId, TypeError, OverflowError):
        # A well-signed cursor never gets here: only one made with another release's format.
        raise InvalidCursorError(cursors.MALFORMED) from None


def _after(query: ItemQuery, value: Any, last_id: Any) -> dict[str, Any]:
    """Return the filter for documents strictly after (`value`, `last_id`) in sort order."""
    key, direction = _sort_key(query)
    after, at_or_after = ("$gt", "$gte") if direction == 1 else ("$lt", "$lte")
    if key == "name":
        if not isinstance(value, str):
            raise TypeError("a name cursor holds a string")
        return {"name": {after: value}}
    if not isinstance(value, int) or not isinstance(last_id, str):
        raise TypeError("a created_at cursor holds milliseconds and an id")
    created_at = _EPOCH + value * _MILLISECOND
    # The range on the sort key bounds the index scan; the `$or` only settles ties.
    return {
        key: {at_or_after: created_at},
        "$or": [{key: {after: created_at}}, {"_id": {after: ObjectId(last_id)}}],
    }


def page_filter(query: ItemQuery, after: dict[str, Any] | None) -> dict[str, Any]:
    """Return the filter of one page: the list filter, and the position past a cursor's."""
    return {**list_filter(query), **(after or {})}


def to_page(
    query: ItemQuery,
    found: Sequence[dict[str, Any]],
    total: int | None,
    key: bytes,
    scope: str,
) -> ItemPage:
    """Return the page for up to `per_page` + 1 documents found (one more says a next page exists).

    Args:
        query: The list query (after `continue_from`).
        found: The documents in sort order, at most `query.per_page` + 1.
        total: Exact count of matching documents; None on a cursor page.
        key: The cursor signing key (`cursors.signing_key`).
        scope: The collection listed, signed into the next cursor (see `continue_from`).

    Raises:
        UnreadableDocumentError: a document on the page fails the read model.
    """
    shown = found[: query.per_page]
    items = to_items(shown)
    next_cursor = None
    if len(found) > query.per_page:
        last = shown[-1]
        sort_key, _ = _sort_key(query)
        value = last.get(sort_key)
        if isinstance(value, datetime):
            value = (value.replace(tzinfo=value.tzinfo or UTC) - _EPOCH) // _MILLISECOND
        position = {"r": scope, "s": query.sort, "t": query.tag, "v": value, "i": str(last["_id"])}
        next_cursor = cursors.encode(position, key)
    return ItemPage(
        items=items,
        page=None if query.cursor else query.page,
        per_page=query.per_page,
        total=total,
        next=next_cursor,
    )


def update_spec(changes: dict[str, Any]) -> dict[str, Any]:
    """Return an atomic update: set `changes`, bump `version`, stamp `updated_at`."""
    return {"$set": {**changes, "updated_at": utcnow()}, "$inc": {"version": 1}}
