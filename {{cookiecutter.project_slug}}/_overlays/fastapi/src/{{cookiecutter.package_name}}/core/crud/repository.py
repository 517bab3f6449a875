"""Data access (async): run each resource's operations (`store`) with the async driver.

One `Repository` per resource, on its own collection, built by the lifespan
(`build_repositories`) and found by the resource's name. Every MongoDB call of a request
goes through `Repository.run`, under one deadline (`timeouts.call_timeout`).
"""

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import pymongo
import structlog
from pydantic import BaseModel

from ..db import Collection, Database
from ..settings import Settings
from ..timeouts import call_timeout
from . import idempotency
from .models import ListQuery
from .spec import Resource
from .store import DOCUMENTS, KEYS, Steps, Store, stores

T = TypeVar("T")
log = structlog.get_logger(__name__)


class Repository:
    """Create, read, update and delete one resource's documents (async)."""

    def __init__(self, store: Store, database: Database) -> None:
        """Run `store`'s operations on its resource's collection of `database`.

        `Idempotency-Key` records go to `idempotency.COLLECTION` of the same database.
        """
        self.store = store
        self.resource = store.resource
        self.database = database
        self.collections: dict[str, Collection] = {
            DOCUMENTS: database[store.resource.collection],
            KEYS: database[idempotency.COLLECTION],
        }

    async def run(self, steps: Steps[T], limit_s: float | None = None) -> T:
        """Make the calls `steps` yields, in order, and return its result.

        Each call's result is sent back into `steps`; a call's exception is thrown in,
        where the operation may handle it (a duplicate key) or let it out.

        Args:
            steps: An operation of `store.Store`.
            limit_s: A tighter bound (seconds) than the settings' on the whole run.

        Raises:
            pymongo.errors.PyMongoError: the database could not serve a call (down, too
                slow, refused the service's credentials) and the operation did not
                handle it; and the operation's own domain errors (`errors`).
        """
        with pymongo.timeout(call_timeout(self.database.client, limit_s)):
            result: Any = None
            error: Exception | None = None
            while True:
                try:
                    target, call = steps.send(result) if error is None else steps.throw(error)
                except StopIteration as done:
                    value: T = done.value
                    return value
                try:
                    result, error = await call(self.collections[target]), None
                except Exception as exc:
                    result, error = None, exc

    async def check(self, timeout_ms: int) -> None:
        """Ping the server (the indexes and validator come from migrations, not from here).

        Raises:
            TimeoutError: no answer within `timeout_ms` milliseconds.
            pymongo.errors.PyMongoError: the server is unreachable, refused the
                service's credentials, or gave no answer within the shorter bound of
                `timeouts.call_timeout`.
        """
        async with asyncio.timeout(timeout_ms / 1000):
            with pymongo.timeout(call_timeout(self.database.client, timeout_ms / 1000)):
                await self.database.command("ping")

    async def get_all(self, query: ListQuery) -> BaseModel:
        """Return one page of the list (`Store.get_all`)."""
        return await self.run(self.store.get_all(query))

    async def get(self, document_id: str) -> BaseModel:
        """Return one document (`Store.get`)."""
        return await self.run(self.store.get(document_id))

    async def create(
        self, body: BaseModel, *, idempotency_key: str | None = None, caller: str | None = None
    ) -> BaseModel:
        """Insert a document and return it (`Store.create`)."""
        steps = self.store.create(body, idempotency_key=idempotency_key, caller=caller)
        return await self.run(steps)

    async def update(
        self, document_id: str, changes: dict[str, Any], *, versions: Sequence[int] | None = None
    ) -> BaseModel:
        """Change a document and return it (`Store.update`)."""
        return await self.run(self.store.update(document_id, changes, versions=versions))

    async def delete(self, document_id: str, *, versions: Sequence[int] | None = None) -> None:
        """Delete a document (`Store.delete`)."""
        await self.run(self.store.delete(document_id, versions=versions))


Repositories = Mapping[str, Repository]
"""One repository per resource, found by the resource's name."""


def build_repositories(
    resources: Sequence[Resource], database: Database, settings: Settings
) -> dict[str, Repository]:
    """Return one repository per resource, each on its own collection of `database`."""
    return {
        name: Repository(store, database) for name, store in stores(resources, settings).items()
    }


async def warm_up(repositories: Repositories, timeout_ms: int) -> None:
    """Ping once at start-up, so the first requests find the client connected.

    Never raises: a failure is logged, the service starts anyway (not ready) and
    recovers when MongoDB answers. It changes nothing in the database.
    """
    try:
        await check_all(repositories, timeout_ms)
    except Exception as exc:
        log.warning("mongodb not ready at start-up", error=type(exc).__name__)


async def check_all(repositories: Repositories, timeout_ms: int) -> None:
    """Check every resource's repository in turn (a ping each).

    Raises:
        Exception: the first check that failed raises its error; later ones are skipped.
    """
    for repository in repositories.values():
        await repository.check(timeout_ms)
