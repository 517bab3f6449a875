"""How a resource's documents are stored and queried: the mapping between API and MongoDB.

Pure functions of a `Resource` and its data, shared by the sync and async drivers
(`store` sequences them), so every resource stores and queries exactly the same way: a
new document at version 1 with its timestamps, the read model of a stored document (a
document that fails it is an `UnreadableDocumentError`, never a crash), the filter of a
list, its stable sort and the index that serves it, keyset cursors, pages, and atomic
update specifications.
"""

import copy
import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from bson import ObjectId
from bson.errors import InvalidId
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from ..clock import utcnow
from ..errors import InvalidCursorError, NotFoundError, UnreadableDocumentError
from . import cursors
from .models import ListQuery
from .spec import Resource

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_CURSOR_MISMATCH = (
    "A cursor keeps the {kept} of the page that gave it and cannot be combined with "
    "page; drop {names} or start again from the first page."
)
_CURSOR_ELSEWHERE = (
    "The cursor belongs to another list than this one; follow the next cursor this list "
    "gave, or start again from its first page."
)

REFUSED_UPDATES = frozenset({14, 121})
"""MongoDB error codes of an update refused for what the stored document holds:
TypeMismatch (14: `$inc` on a `version` that is no number) and
DocumentValidationFailure (121: the result fails the collection's validator, which a
change the API validated can only do to a document that failed it already).
Source: MongoDB's `src/mongo/base/error_codes.yml`."""


def object_id(resource: Resource, document_id: str) -> ObjectId:
    """Return the ObjectId of `document_id`.

    Raises:
        NotFoundError: `document_id` is not 24 hex digits, so no document can have it.
    """
    try:
        return ObjectId(document_id)
    except (InvalidId, TypeError):
        raise NotFoundError(resource.name, document_id) from None


def new_document(
    resource: Resource, body: BaseModel, document_id: ObjectId | None = None
) -> dict[str, Any]:
    """Return the document to insert for a new `body` (version 1), with `_id` when given.

    It is a `resource.document` (tests prove it); the collection's validator checks it
    on insert. Without `document_id` the driver adds a fresh `_id` on insert.
    """
    now = utcnow()
    document = {**body.model_dump(), "created_at": now, "updated_at": now, "version": 1}
    if document_id is not None:
        document["_id"] = document_id
    return document


def to_read(resource: Resource, document: dict[str, Any]) -> BaseModel:
    """Return the API view of a stored document.

    Raises:
        UnreadableDocumentError: the document fails the read model (names its id and
            the failing fields).
    """
    try:
        return _read(resource, document)
    except ValidationError as exc:
        failures = {str(document["_id"]): _failing(exc)}
        raise UnreadableDocumentError(resource.name, failures) from None


def to_reads(resource: Resource, found: Iterable[dict[str, Any]]) -> list[BaseModel]:
    """Return the API view of stored documents, in order.

    Raises:
        UnreadableDocumentError: some fail the read model; it names every one of them,
            so a page never silently leaves a document out.
    """
    shown: list[BaseModel] = []
    failures: dict[str, list[str]] = {}
    for document in found:
        try:
            shown.append(_read(resource, document))
        except ValidationError as exc:
            failures[str(document["_id"])] = _failing(exc)
    if failures:
        raise UnreadableDocumentError(resource.name, failures)
    return shown


def check_stored(resource: Resource, document: dict[str, Any]) -> None:
    """Check a stored document against `resource.document`, the model its validator comes from.

    Stricter than reading it (`to_read`): a field the model does not know, or a missing
    field the read model would show with its default, fails here as it fails the
    collection's validator on the next update.

    Raises:
        UnreadableDocumentError: the document fails the model (names its id and the
            failing fields).
    """
    try:
        resource.document.model_validate(document)
    except ValidationError as exc:
        failures = {str(document["_id"]): _failing(exc)}
        raise UnreadableDocumentError(resource.name, failures) from None


def _read(resource: Resource, document: dict[str, Any]) -> BaseModel:
    """Return the read model of a stored document, strictly (no type coercion).

    A field with a default that the document lacks (stored before the field was
    declared) reads as its default. The read model ignores what it does not declare
    (`_id`, fields no longer declared), so the document is validated as it is, and
    defaults are looked at only when that fails.

    Raises:
        ValidationError: a field without a default, a timestamp or the version is
            missing, or a field is null or of another type (strictly: "3" is no version).
    """
    values = {**document, "id": str(document["_id"])}
    try:
        return resource.read.model_validate(values, strict=True)
    except ValidationError:
        defaults = _defaults(resource)
        missing = [name for name in defaults if name not in document]
        if not missing:
            raise
        for name in missing:
            values[name] = defaults[name]()
        return resource.read.model_validate(values, strict=True)


@functools.cache
def _defaults(resource: Resource) -> dict[str, Callable[[], Any]]:
    """Return, for each field with a default, a callable making a fresh one."""
    found: dict[str, Callable[[], Any]] = {}
    for name, info in resource.fields.model_fields.items():
        if info.default is not PydanticUndefined:
            found[name] = functools.partial(copy.copy, info.default)
        elif info.default_factory is not None:
            found[name] = cast(Callable[[], Any], info.default_factory)
    return found


def _failing(exc: ValidationError) -> list[str]:
    """Return the dotted paths of the fields an error names, each once."""
    return list(dict.fromkeys(".".join(map(str, issue["loc"])) for issue in exc.errors()))


def id_filter(
    resource: Resource, document_id: str, versions: Sequence[int] | None = None
) -> dict[str, Any]:
    """Return the filter for one document, optionally only at one of `versions` (If-Match)."""
    query: dict[str, Any] = {"_id": object_id(resource, document_id)}
    if versions is not None:
        query["version"] = {"$in": list(versions)}
    return query


def list_filter(resource: Resource, query: ListQuery) -> dict[str, Any]:
    """Return the filter of the list: each filter parameter given, matched exactly."""
    found: dict[str, Any] = {}
    for param, flt in resource.filters.items():
        value = getattr(query, param)
        if value is not None:
            found[flt.field] = value
    return found


def _sort_key(query: ListQuery) -> tuple[str, int]:
    """Return the sort field and its direction (1 ascending, -1 descending)."""
    return query.sort.lstrip("-"), -1 if query.sort.startswith("-") else 1


def sort_spec(resource: Resource, query: ListQuery) -> list[tuple[str, int]]:
    """Return a stable sort: the requested key, then `_id` in the same direction.

    A unique key needs no tiebreak (its unique index serves the sort).
    """
    key, direction = _sort_key(query)
    return [(key, direction)] if resource.is_unique(key) else [(key, direction), ("_id", direction)]


def index_for(resource: Resource, query: ListQuery) -> str:
    """Return the name of the index that serves the list query in sort order.

    With several filters given, the first declared one's index serves it (the others
    are checked on the documents it finds).
    """
    key, _ = _sort_key(query)
    used = [f.field for param, f in resource.filters.items() if getattr(query, param) is not None]
    return resource.index_name(key, used[0] if used else None)


def continue_from(
    resource: Resource, query: ListQuery, key: bytes
) -> tuple[ListQuery, dict[str, Any] | None]:
    """Return the query a cursor continues (its filters and sort) and the filter past it.

    Without a cursor: `query` itself and None.

    A cursor is valid only for the list that made it: `to_page` signs the resource's
    collection into it.

    Raises:
        InvalidCursorError: the cursor is malformed or altered (`cursors.decode`), was
            made by another resource's list (or by an older release), or comes with
            `page` > 1 or a filter or `sort` other than its own.
    """
    if query.cursor is None:
        return query, None
    position = cursors.decode(query.cursor, key)
    if position.get("r") != resource.collection:
        raise InvalidCursorError(_CURSOR_ELSEWHERE)
    if not isinstance(position.get("f"), dict):
        # A cursor of an older release, without its filters: start again.
        raise InvalidCursorError(cursors.MALFORMED)
    kept = {"sort": position.get("s"), **position["f"]}
    given = query.model_fields_set
    clashing = [
        name
        for name in ("page", *resource.filters, "sort")
        if (name == "page" and query.page != 1)
        or (name != "page" and name in given and getattr(query, name) != kept.get(name))
    ]
    if clashing:
        names = [*resource.filters, "sort"]
        raise InvalidCursorError(
            _CURSOR_MISMATCH.format(kept=_prose(names, "and"), names=", ".join(clashing))
        )
    try:
        continued = cast(
            ListQuery,
            resource.query.model_validate(
                {**kept, "per_page": query.per_page, "cursor": query.cursor}
            ),
        )
        return continued, _after(resource, continued, position.get("v"), position.get("i"))
    except (ValidationError, InvalidId, TypeError, OverflowError):
        # A well-signed cursor never gets here: only one made with another release's format.
        raise InvalidCursorError(cursors.MALFORMED) from None


def _prose(names: Sequence[str], conjunction: str) -> str:
    """Return names as plain prose: "sort", "tag and sort", "a, b and sort"."""
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def _after(resource: Resource, query: ListQuery, value: Any, last_id: Any) -> dict[str, Any]:
    """Return the filter for documents strictly after (`value`, `last_id`) in sort order."""
    key, direction = _sort_key(query)
    after, at_or_after = ("$gt", "$gte") if direction == 1 else ("$lt", "$lte")
    kind = resource.sort_type(key)
    if kind is datetime:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("a datetime cursor holds milliseconds")
        value = _EPOCH + value * _MILLISECOND
    elif not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise TypeError(f"a {key} cursor holds a {kind.__name__}")
    if resource.is_unique(key):
        return {key: {after: value}}
    if not isinstance(last_id, str):
        raise TypeError("a cursor on a key that is not unique holds the last id")
    # The range on the sort key bounds the index scan; the `$or` only settles ties.
    return {
        key: {at_or_after: value},
        "$or": [{key: {after: value}}, {"_id": {after: ObjectId(last_id)}}],
    }


def page_filter(
    resource: Resource, query: ListQuery, after: dict[str, Any] | None
) -> dict[str, Any]:
    """Return the filter of one page: the list filter, and the position past a cursor's."""
    return {**list_filter(resource, query), **(after or {})}


def to_page(
    resource: Resource,
    query: ListQuery,
    found: Sequence[dict[str, Any]],
    total: int | None,
    key: bytes,
) -> BaseModel:
    """Return the page for up to `per_page` + 1 documents found (one more: a next page exists).

    Args:
        resource: The resource listed.
        query: The list query (after `continue_from`).
        found: The documents in sort order, at most `per_page` + 1.
        total: Exact count of matching documents; None on a cursor page.
        key: The cursor signing key (`cursors.signing_key`).

    Raises:
        UnreadableDocumentError: a document on the page fails the read model.
    """
    per_page = query.per_page
    shown = found[:per_page]
    next_cursor = None
    if len(found) > per_page:
        last = shown[-1]
        sort_key, _ = _sort_key(query)
        value = last.get(sort_key)
        if isinstance(value, datetime):
            value = (value.replace(tzinfo=value.tzinfo or UTC) - _EPOCH) // _MILLISECOND
        filters = {param: getattr(query, param) for param in resource.filters}
        position = {
            "r": resource.collection,
            "s": query.sort,
            "f": filters,
            "v": value,
            "i": str(last["_id"]),
        }
        next_cursor = cursors.encode(position, key)
    return resource.page.model_validate(
        {
            "items": to_reads(resource, shown),
            "page": None if query.cursor else query.page,
            "per_page": per_page,
            "total": total,
            "next": next_cursor,
        }
    )


def update_spec(changes: dict[str, Any]) -> dict[str, Any]:
    """Return an atomic update: set `changes`, bump `version`, stamp `updated_at`."""
    return {"$set": {**changes, "updated_at": utcnow()}, "$inc": {"version": 1}}
