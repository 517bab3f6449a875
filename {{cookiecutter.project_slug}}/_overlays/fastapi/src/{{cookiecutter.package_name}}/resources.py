"""What makes a resource: its name, collection, validator, indexes, repository, router.

Each resource package builds one `Resource` (e.g. `items.ITEMS`) and `registry.RESOURCES`
lists them. The app factory includes every router, the lifespan builds one repository
per resource on its own collection, and `/health/ready` checks every repository. A
route module finds its repository by its own class (`repositories[ItemRepository]`), so
a resource can never be handed another's collection.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from .cursors import signing_key
from .db import Collection, Database
from .settings import Settings

log = structlog.get_logger(__name__)

Indexes = list[tuple[list[tuple[str, int]], dict[str, Any]]]
"""(keys, options) pairs for `create_index`."""


class Repository(Protocol):
    """What the app needs of a resource's repository: to build it and to check it."""

    def __init__(
        self,
        collection: Collection,
        *,
        key_lease_ms: int,
        key_retention_s: int,
        cursor_key: bytes = b"",
    ) -> None: ...

    async def check(self, timeout_ms: int) -> None:
        """Ping the server within `timeout_ms` milliseconds."""
        ...


Repositories = Mapping[type[Repository], Repository]
"""One repository per resource, found by its class."""


@dataclass(frozen=True)
class Resource:
    """One resource of the API, as the registry lists it."""

    name: str
    """Snake_case singular name, e.g. "item": logs and problem details use it."""
    collection: str
    """The MongoDB collection holding its documents (its own, never shared)."""
    validator: dict[str, Any]
    """The collection's validator (`{"$jsonSchema": ...}`), applied by its migration."""
    indexes: Indexes
    """The collection's indexes, created by its migration (`migrations.operations`)."""
    repository: type[Repository]
    """Its repository class: built with `Repository`'s arguments, found by this class."""
    router: APIRouter
    """Its routes, included by the app factory."""


def refuse_shared(resources: Sequence[Resource]) -> None:
    """Check that no two resources share a collection or a repository class.

    Raises:
        ValueError: two resources share one; the message names both.
    """
    for index, first in enumerate(resources):
        for second in resources[index + 1 :]:
            if first.collection == second.collection:
                raise ValueError(
                    f"Resources {first.name!r} and {second.name!r} share the collection "
                    f"{first.collection!r}: give each resource its own collection."
                )
            if first.repository is second.repository:
                raise ValueError(
                    f"Resources {first.name!r} and {second.name!r} share the repository class "
                    f"{first.repository.__name__}: give each resource its own repository."
                )


def add_routes(app: FastAPI, resource: Resource, dependencies: Sequence[Any]) -> None:
    """Serve `resource.router`'s routes as the app's own, each behind `dependencies` first.

    What `app.include_router(resource.router, dependencies=...)` does, without its cost:
    FastAPI 0.165 includes a router lazily and matches its routes twice per request
    (once to pick the router, once inside it): 60k to 170k instructions per request,
    by route (measured with the template's bench/, see its README).
    The routes keep their path, methods, schemas, responses and OpenAPI text.

    Raises:
        TypeError: the router holds something other than API routes (a mount, a
            websocket route), which this copy would lose.
    """
    for route in resource.router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{resource.name}: only API routes can be served, not {route!r}")
        app.add_api_route(
            route.path,
            route.endpoint,
            methods=sorted(route.methods or ()),
            response_model=route.response_model,
            status_code=route.status_code,
            tags=route.tags,
            dependencies=[*dependencies, *route.dependencies],
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=route.responses,
            deprecated=route.deprecated,
            name=route.name,
            operation_id=route.operation_id,
            include_in_schema=route.include_in_schema,
            openapi_extra=route.openapi_extra,
        )


def build_repositories(
    resources: Sequence[Resource], database: Database, settings: Settings
) -> dict[type[Repository], Repository]:
    """Return one repository per resource, each on its own collection of `database`."""
    secret = settings.cursor_secret
    cursor_key = signing_key(None if secret is None else secret.get_secret_value())
    return {
        resource.repository: resource.repository(
            database[resource.collection],
            key_lease_ms=settings.idempotency_lease_ms,
            key_retention_s=settings.idempotency_retention_seconds,
            cursor_key=cursor_key,
        )
        for resource in resources
    }


async def warm_up(
    resources: Sequence[Resource], repositories: Repositories, timeout_ms: int
) -> None:
    """Ping once at start-up, so the first requests find the client connected.

    Never raises: a failure is logged, the service starts anyway (not ready) and
    recovers when MongoDB answers. It changes nothing in the database.
    """
    try:
        await check_all(resources, repositories, timeout_ms)
    except Exception as exc:
        log.warning("mongodb not ready at start-up", error=type(exc).__name__)


async def check_all(
    resources: Sequence[Resource], repositories: Repositories, timeout_ms: int
) -> None:
    """Check every resource's repository in turn (a ping each).

    Raises:
        Exception: the first check that failed raises its error; later ones are skipped.
    """
    for resource in resources:
        await repositories[resource.repository].check(timeout_ms)
