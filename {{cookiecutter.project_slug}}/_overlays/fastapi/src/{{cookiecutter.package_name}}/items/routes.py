"""The items API: HTTP in, repository call, HTTP out. No data access here."""

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from pydantic import BeforeValidator
from pydantic.json_schema import SkipJsonSchema

from ..access import current_principal
from ..cursors import next_link
from ..etags import IF_MATCH_DESCRIPTION, IF_MATCH_PATTERN, etag, parse_if_match
from ..handlers import problem_responses
from ..idempotency import one_key, parse_key, refuse_several
from ..schemas import IDEMPOTENCY_KEY_DESCRIPTION, OBJECT_ID_PATTERN, IdempotencyKey
from .repository import ItemRepository
from .schemas import ItemCreate, ItemPage, ItemQuery, ItemRead, ItemUpdate

router = APIRouter(prefix="/api/v1/items", tags=["items"])


def get_repository(request: Request) -> ItemRepository:
    """Return the items repository the lifespan created for this app (found by its class).

    A plain call, not a dependency: FastAPI solves every dependency per request (about
    75k instructions each here, measured with bench/), and this one never changes
    within an app. Tests swap it through `app.state.repositories`.
    """
    repository: ItemRepository = request.app.state.repositories[ItemRepository]
    return repository


# A plain header parameter, parsed in the route, not a dependency (see `get_repository`).
# The pattern is declared for clients, not checked by FastAPI: `parse_if_match` checks it
# and answers a mismatch with 400 (a malformed header), not 422.
IfMatchHeader = Annotated[
    str | SkipJsonSchema[None],
    Header(
        alias="If-Match",
        description=IF_MATCH_DESCRIPTION,
        json_schema_extra={"pattern": IF_MATCH_PATTERN},
    ),
]
# Several keys are a 400 (`one_key`, `refuse_several`), a malformed one a 422.
IdempotencyKeyHeader = Annotated[
    IdempotencyKey | None,
    BeforeValidator(one_key),
    Header(alias="Idempotency-Key", description=IDEMPOTENCY_KEY_DESCRIPTION),
]
ItemIdPath = Annotated[
    str, Path(pattern=OBJECT_ID_PATTERN, description="The item's id (24 hex digits).")
]


def item_headers(response: Response, item: ItemRead) -> None:
    """Set the item's ETag on the response."""
    response.headers["ETag"] = etag(item.version)


@router.get("", responses=problem_responses(400, 422, 500, 503))
async def get_items(
    query: Annotated[ItemQuery, Query()], request: Request, response: Response
) -> ItemPage:
    """List items, a page at a time, optionally only those with a tag.

    Ask for a page by number (`page`, with the exact `total`) or follow `next` (the
    `cursor`, also in the `Link` header): cursor pages cost the same at any depth.
    """
    page = await get_repository(request).get_all(query)
    if page.next is not None:
        response.headers["Link"] = next_link(router.prefix, page.next, page.per_page)
    return page


@router.get("/{item_id}", responses=problem_responses(404, 422, 500, 503))
async def get_item(item_id: ItemIdPath, request: Request, response: Response) -> ItemRead:
    """Return one item; its ETag is its version."""
    item = await get_repository(request).get(item_id)
    item_headers(response, item)
    return item


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 409, 413, 415, 422, 503),
)
async def create_item(
    item_in: ItemCreate,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ItemRead:
    """Create an item; `Location` points at it. A duplicate name is a 409.

    With an `Idempotency-Key`, a retry by the same caller gets the first answer again and
    never a second item; more than one key is a 400.
    """
    refuse_several(request.headers.getlist("Idempotency-Key"))
    principal = current_principal()
    item = await get_repository(request).create(
        item_in,
        idempotency_key=parse_key(idempotency_key),
        caller=None if principal is None else principal.caller,
    )
    item_headers(response, item)
    response.headers["Location"] = f"{router.prefix}/{item.id}"
    return item


@router.put(
    "/{item_id}",
    responses=problem_responses(400, 404, 409, 412, 413, 415, 422, 503),
)
async def replace_item(
    item_id: ItemIdPath,
    item_in: ItemCreate,
    request: Request,
    response: Response,
    if_match: IfMatchHeader = None,
) -> ItemRead:
    """Replace every field of an item; a stale `If-Match` is a 412 and changes nothing."""
    item = await get_repository(request).update(
        item_id, item_in.model_dump(), versions=parse_if_match(if_match)
    )
    item_headers(response, item)
    return item


@router.patch(
    "/{item_id}",
    responses=problem_responses(400, 404, 409, 412, 413, 415, 422, 503),
)
async def update_item(
    item_id: ItemIdPath,
    item_in: ItemUpdate,
    request: Request,
    response: Response,
    if_match: IfMatchHeader = None,
) -> ItemRead:
    """Change the given fields of an item; a stale `If-Match` is a 412 and changes nothing."""
    item = await get_repository(request).update(
        item_id, item_in.model_dump(exclude_unset=True), versions=parse_if_match(if_match)
    )
    item_headers(response, item)
    return item


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 404, 412, 422, 503),
)
async def delete_item(
    item_id: ItemIdPath, request: Request, if_match: IfMatchHeader = None
) -> None:
    """Delete an item; a stale `If-Match` is a 412 and deletes nothing."""
    await get_repository(request).delete(item_id, versions=parse_if_match(if_match))
