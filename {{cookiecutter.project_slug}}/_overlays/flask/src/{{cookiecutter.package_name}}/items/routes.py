"""The items API: HTTP in, repository call, HTTP out. No data access here."""

from typing import Annotated, Any

from flask import Response, current_app
from flask_openapi.blueprint import APIBlueprint
from flask_openapi.models.tag import Tag
from pydantic import BaseModel, BeforeValidator, Field
from pydantic.json_schema import SkipJsonSchema

from ..access import current_principal
from ..cursors import next_link
from ..etags import IF_MATCH_DESCRIPTION, IF_MATCH_PATTERN, etag, parse_if_match
from ..handlers import json_response, problem_responses
from ..idempotency import one_key, parse_key
from ..schemas import IDEMPOTENCY_KEY_DESCRIPTION, OBJECT_ID_PATTERN, IdempotencyKey
from .repository import ItemRepository
from .schemas import ItemCreate, ItemPage, ItemQuery, ItemRead, ItemUpdate

bp = APIBlueprint("items", __name__, url_prefix="/api/v1/items", abp_tags=[Tag(name="items")])


_SCHEMAS: dict[type[BaseModel], dict[str, Any]] = {}


class SchemaOnce(BaseModel):
    """Base of header and query models: their JSON schema is built once per class.

    flask-openapi 5.0 calls `model_json_schema()` on every request with header or query
    parameters, only to read the property names (`flask_openapi/request.py`); building
    it cost more instructions than the rest of such a request's own code (measured with
    `bench/`). A class's schema never changes, so the no-argument call is answered from
    a cache. The cached dict is shared: callers must not change it (flask-openapi only
    reads it).
    """

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Return pydantic's JSON schema of the class, built once for the default arguments."""
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        schema = _SCHEMAS.get(cls)
        if schema is None:
            schema = _SCHEMAS[cls] = super().model_json_schema()
        return schema


class ItemPath(BaseModel):
    """Path parameters of `/api/v1/items/{item_id}`."""

    item_id: Annotated[
        str, Field(pattern=OBJECT_ID_PATTERN, description="The item's id (24 hex digits).")
    ]


class ItemListQuery(SchemaOnce, ItemQuery):
    """Query parameters of `GET /api/v1/items` (the shared `ItemQuery`)."""


class IfMatchHeader(SchemaOnce):
    """The optional `If-Match` request header."""

    # The pattern is declared for clients, not checked by pydantic: `parse_if_match` checks
    # it and answers a mismatch with 400 (a malformed header), not 422.
    if_match: str | SkipJsonSchema[None] = Field(
        None,
        alias="If-Match",
        description=IF_MATCH_DESCRIPTION,
        json_schema_extra={"pattern": IF_MATCH_PATTERN},
    )


class IdempotencyKeyHeader(SchemaOnce):
    """The optional `Idempotency-Key` request header."""

    # Several keys are a 400 (`one_key`: the WSGI server joins several header lines into
    # one value), a malformed one a 422.
    idempotency_key: Annotated[IdempotencyKey | None, BeforeValidator(one_key)] = Field(
        None, alias="Idempotency-Key", description=IDEMPOTENCY_KEY_DESCRIPTION
    )


def get_repository() -> ItemRepository:
    """Return the items repository `app.init_db` created for this app (found by its class)."""
    repository: ItemRepository = current_app.extensions["repositories"][ItemRepository]
    return repository


def item_response(item: ItemRead, status: int = 200, **headers: str) -> Response:
    """Return the item as JSON with its ETag."""
    return json_response(item, status, {"ETag": etag(item.version), **headers})


@bp.get("", responses={200: ItemPage, **problem_responses(400, 422, 500, 503)})
def get_items(query: ItemListQuery) -> Response:
    """List items, a page at a time, optionally only those with a tag.

    Ask for a page by number (`page`, with the exact `total`) or follow `next` (the
    `cursor`, also in the `Link` header): cursor pages cost the same at any depth.
    """
    page = get_repository().get_all(query)
    headers = {}
    if page.next is not None:
        headers["Link"] = next_link(bp.url_prefix or "", page.next, page.per_page)
    return json_response(page, headers=headers)


@bp.get("/<item_id>", responses={200: ItemRead, **problem_responses(404, 422, 500, 503)})
def get_item(path: ItemPath) -> Response:
    """Return one item; its ETag is its version."""
    return item_response(get_repository().get(path.item_id))


@bp.post("", responses={201: ItemRead, **problem_responses(400, 409, 413, 415, 422, 503)})
def create_item(body: ItemCreate, header: IdempotencyKeyHeader) -> Response:
    """Create an item; `Location` points at it. A duplicate name is a 409.

    With an `Idempotency-Key`, a retry by the same caller gets the first answer again and
    never a second item; more than one key is a 400.
    """
    principal = current_principal()
    item = get_repository().create(
        body,
        idempotency_key=parse_key(header.idempotency_key),
        caller=None if principal is None else principal.caller,
    )
    return item_response(item, 201, Location=f"{bp.url_prefix}/{item.id}")


@bp.put(
    "/<item_id>",
    responses={200: ItemRead, **problem_responses(400, 404, 409, 412, 413, 415, 422, 503)},
)
def replace_item(path: ItemPath, body: ItemCreate, header: IfMatchHeader) -> Response:
    """Replace every field of an item; a stale `If-Match` is a 412 and changes nothing."""
    item = get_repository().update(
        path.item_id, body.model_dump(), versions=parse_if_match(header.if_match)
    )
    return item_response(item)


@bp.patch(
    "/<item_id>",
    responses={200: ItemRead, **problem_responses(400, 404, 409, 412, 413, 415, 422, 503)},
)
def update_item(path: ItemPath, body: ItemUpdate, header: IfMatchHeader) -> Response:
    """Change the given fields of an item; a stale `If-Match` is a 412 and changes nothing."""
    item = get_repository().update(
        path.item_id,
        body.model_dump(exclude_unset=True),
        versions=parse_if_match(header.if_match),
    )
    return item_response(item)


@bp.delete("/<item_id>", responses={204: None, **problem_responses(400, 404, 412, 422, 503)})
def delete_item(path: ItemPath, header: IfMatchHeader) -> Response:
    """Delete an item; a stale `If-Match` is a 412 and deletes nothing."""
    get_repository().delete(path.item_id, versions=parse_if_match(header.if_match))
    return Response(status=204)
