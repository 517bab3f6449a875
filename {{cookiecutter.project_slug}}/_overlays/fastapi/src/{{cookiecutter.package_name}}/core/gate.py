"""The migration gate: resource routes answer 503 until every migration is applied.

While a migration is pending, running, failed or changed, a request to a resource route
gets a 503 problem with `Retry-After` (and `/health/ready` answers 503 naming each
state); probes, `/metrics` and the docs are served as usual. The request middleware
asks `hold` only while the gate is closed, so once every migration was read done
the gate costs one attribute read per request. `READY_REQUIRES_MIGRATIONS=false`
opens it for good, as it drops the readiness check.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

import pymongo
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from .db import Database
from .migrations.runner import RECORDS, Migration
from .migrations.states import MigrationStates
from .problems import database_unavailable_detail
from .timeouts import call_timeout


class MigrationGate(MigrationStates):
    """Hold the resource routes back while migrations are not done (one per app, per worker)."""

    def __init__(
        self,
        migrations: Sequence[Migration],
        routes: Sequence[BaseRoute],
        *,
        enabled: bool,
        timeout_ms: int,
    ) -> None:
        """Hold `routes` until every one of `migrations` is done.

        Args:
            migrations: The migrations of this code (`runner.discover()`).
            routes: The resource routes to hold (`Resource.router.routes`).
            enabled: False opens the gate for good (`ready_requires_migrations`).
            timeout_ms: The longest a read of the records may take (ms).
        """
        super().__init__(migrations, enabled=enabled)
        self.routes = tuple(routes)
        self.timeout_s = timeout_ms / 1000
        self.database: Database | None = None

    async def start(self, database: Database) -> None:
        """Read the records of `database` once (the lifespan's start); never raises."""
        self.database = database
        await self.refresh()

    async def read(self) -> dict[str, str]:
        """Read the records now; return {id: state} of the migrations not done.

        Raises:
            Exception: the driver's error, or TimeoutError after `timeout_ms`.
        """
        assert self.database is not None, "start() first"
        # `call_timeout`, as every repository call: a refusal of the service's credentials
        # is raised again at once, not waited out to the timeout.
        async with asyncio.timeout(self.timeout_s):
            with pymongo.timeout(call_timeout(self.database.client, self.timeout_s)):
                cursor = self.database[RECORDS].find({}, {"state": 1, "checksum": 1})
                records = await cursor.to_list(None)
        return self.update(records)

    async def refresh(self) -> None:
        """Read the records if a read is due (`claim`); a failure is noted, not raised."""
        if not self.claim():
            return
        try:
            await self.read()
        except Exception as exc:
            self.failed(database_unavailable_detail(exc) or f"{type(exc).__name__}.")
        finally:
            self.release()

    async def hold(self, scope: Scope) -> dict[str, Any] | None:
        """Return the 503 problem for a request to a resource route, or None to serve it.

        Called by the middleware only while the gate is closed: routing the request
        then (to know whether it is a resource route) costs nothing afterwards. A
        request no route serves in full (an unknown path, a wrong method, a CORS
        preflight) is left to the app. A held request's scope gets its route, so the
        metrics label it by template.
        """
        route = next((r for r in self.routes if r.matches(scope)[0] is Match.FULL), None)
        if route is None:
            return None
        await self.refresh()
        if self.open:
            return None
        scope["route"] = route
        return self.problem(scope["path"])
