"""The routes of a resource (FastAPI): HTTP in, repository call, HTTP out. No data access.

`add_routes(app, resource, dependencies)` serves `/api/v1/<plural>` for a declared
resource: list, get, create, replace, update, delete, with ETags, `If-Match`,
`Idempotency-Key`, cursors and `Link`, each documented in OpenAPI under the resource's
own names (`get_books`, `BookRead`, `book_id`). The handlers are written once, here; the
resource's names reach FastAPI through each handler's name, docstring and signature
(`inspect.Signature`, which FastAPI reads as it reads a written one).
"""

import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import FastAPI, Header, Path, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator
from pydantic.json_schema import SkipJsonSchema

from ..access import current_principal
from ..handlers import problem_responses
from ..schemas import IDEMPOTENCY_KEY_DESCRIPTION, OBJECT_ID_PATTERN, IdempotencyKey
from . import texts
from .cursors import next_link
from .etags import IF_MATCH_DESCRIPTION, IF_MATCH_PATTERN, etag, parse_if_match
from .idempotency import one_key, parse_key, refuse_several
from .repository import Repository
from .spec import Resource

# Plain header parameters, parsed in the handler, not dependencies: FastAPI solves every
# dependency per request (about 75k instructions each, measured with the template's
# bench/). The If-Match pattern is declared for clients, not checked by FastAPI:
# `parse_if_match` checks it and answers a mismatch with 400 (a malformed header), not 422.
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


def repository_of(request: Request, resource: Resource) -> Repository:
    """Return the repository the lifespan built for `resource` in this app.

    A plain call, not a dependency (see `IfMatchHeader`); tests swap it through
    `app.state.repositories`.
    """
    repository: Repository = request.app.state.repositories[resource.name]
    return repository


def add_routes(app: FastAPI, resource: Resource, dependencies: Sequence[Any]) -> list[APIRoute]:
    """Serve `resource`'s routes as the app's own, each behind `dependencies` first.

    Returns the routes added (the migration gate holds them back until it opens).

    As the app's own routes, not an included router's: FastAPI 0.165 includes a router
    lazily and matches its routes twice per request (60k to 170k instructions per
    request, by route, measured with the template's bench/).
    """
    path = resource.path
    id_name = resource.id_name
    id_path = Annotated[
        str, Path(pattern=OBJECT_ID_PATTERN, description=texts.id_description(resource))
    ]

    async def get_all(request: Request, response: Response, query: Any) -> Any:
        page: Any = await repository_of(request, resource).get_all(query)
        if page.next is not None:
            response.headers["Link"] = next_link(path, page.next, page.per_page)
        return page

    async def get(request: Request, response: Response, **ids: str) -> Any:
        found: Any = await repository_of(request, resource).get(ids[id_name])
        response.headers["ETag"] = etag(found.version)
        return found

    async def create(
        request: Request, response: Response, body: BaseModel, idempotency_key: str | None
    ) -> Any:
        refuse_several(request.headers.getlist("Idempotency-Key"))
        principal = current_principal()
        created: Any = await repository_of(request, resource).create(
            body,
            idempotency_key=parse_key(idempotency_key),
            caller=None if principal is None else principal.caller,
        )
        response.headers["ETag"] = etag(created.version)
        response.headers["Location"] = f"{path}/{created.id}"
        return created

    async def replace(
        request: Request, response: Response, body: BaseModel, if_match: str | None, **ids: str
    ) -> Any:
        replaced: Any = await repository_of(request, resource).update(
            ids[id_name], body.model_dump(), versions=parse_if_match(if_match)
        )
        response.headers["ETag"] = etag(replaced.version)
        return replaced

    async def update(
        request: Request, response: Response, body: BaseModel, if_match: str | None, **ids: str
    ) -> Any:
        updated: Any = await repository_of(request, resource).update(
            ids[id_name], body.model_dump(exclude_unset=True), versions=parse_if_match(if_match)
        )
        response.headers["ETag"] = etag(updated.version)
        return updated

    async def delete(
        request: Request, response: Response, if_match: str | None, **ids: str
    ) -> None:
        versions = parse_if_match(if_match)
        await repository_of(request, resource).delete(ids[id_name], versions=versions)

    one = resource.one_path
    if_match = (IfMatchHeader, None)
    # verb: (path, method, handler, its parameters besides request and response, the
    # response model, status, the problems it may answer)
    table: dict[
        str, tuple[str, str, Callable[..., Any], dict[str, Any], Any, int, tuple[int, ...]]
    ] = {
        "get_all": (
            path,
            "GET",
            get_all,
            {"query": Annotated[resource.query, Query()]},
            resource.page,
            200,
            (400, 422, 500, 503),
        ),
        "get": (one, "GET", get, {id_name: id_path}, resource.read, 200, (404, 422, 500, 503)),
        "create": (
            path,
            "POST",
            create,
            {"body": resource.create, "idempotency_key": (IdempotencyKeyHeader, None)},
            resource.read,
            201,
            (400, 409, 413, 415, 422, 503),
        ),
        "replace": (
            one,
            "PUT",
            replace,
            {id_name: id_path, "body": resource.create, "if_match": if_match},
            resource.read,
            200,
            (400, 404, 409, 412, 413, 415, 422, 503),
        ),
        "update": (
            one,
            "PATCH",
            update,
            {id_name: id_path, "body": resource.update, "if_match": if_match},
            resource.read,
            200,
            (400, 404, 409, 412, 413, 415, 422, 503),
        ),
        "delete": (
            one,
            "DELETE",
            delete,
            {id_name: id_path, "if_match": if_match},
            None,
            204,
            (400, 404, 412, 422, 503),
        ),
    }
    added: list[APIRoute] = []
    for verb in texts.VERBS:
        route_path, method, endpoint, parameters, returns, status_code, errors = table[verb]
        endpoint.__signature__ = signature(parameters, returns)  # type: ignore[attr-defined]
        app.add_api_route(
            route_path,
            endpoint,
            methods=[method],
            name=texts.handler_name(resource, verb),
            description=texts.docstring(resource, verb),
            response_model=returns,
            status_code=status_code,
            tags=[resource.plural],
            dependencies=list(dependencies),
            responses=problem_responses(*errors),
        )
        route = app.router.routes[-1]
        assert isinstance(route, APIRoute)
        added.append(route)
    return added


def signature(parameters: dict[str, Any], returns: Any) -> inspect.Signature:
    """Return a handler's signature for FastAPI: `request`, `response`, then `parameters`.

    A value of `parameters` is an annotation (a required parameter) or an
    `(annotation, default)` pair.
    """
    keyword = inspect.Parameter.KEYWORD_ONLY
    made = [
        inspect.Parameter("request", keyword, annotation=Request),
        inspect.Parameter("response", keyword, annotation=Response),
    ]
    for name, value in parameters.items():
        annotation, default = (
            value if isinstance(value, tuple) else (value, inspect.Parameter.empty)
        )
        made.append(inspect.Parameter(name, keyword, annotation=annotation, default=default))
    return inspect.Signature(made, return_annotation=returns)
