"""The migration gate: resource routes answer 503 until every migration is applied.

While a migration is pending, running, failed or changed, a request to a resource route
gets a 503 problem with `Retry-After` (and `/health/ready` answers 503 naming each
state); probes, `/metrics` and the docs are served as usual. The request hook asks
`hold` only while the gate is closed, so once every migration was read done the
gate costs one attribute read per request. `READY_REQUIRES_MIGRATIONS=false` opens
it for good, as it drops the readiness check.
"""

from collections.abc import Iterable, Sequence
from typing import Any

import pymongo
from flask import request

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
        blueprints: Iterable[str],
        *,
        enabled: bool,
        timeout_ms: int,
    ) -> None:
        """Hold the routes of `blueprints` until every one of `migrations` is done.

        Args:
            migrations: The migrations of this code (`runner.discover()`).
            blueprints: The names of the resource blueprints to hold.
            enabled: False opens the gate for good (`ready_requires_migrations`).
            timeout_ms: The longest a read of the records may take (ms).
        """
        super().__init__(migrations, enabled=enabled)
        self.blueprints = frozenset(blueprints)
        self.timeout_s = timeout_ms / 1000
        self.database: Database | None = None

    def start(self, database: Database) -> None:
        """Read the records of `database` once (the app factory's start); never raises."""
        self.database = database
        self.refresh()

    def read(self) -> dict[str, str]:
        """Read the records now; return {id: state} of the migrations not done.

        Raises:
            Exception: the driver's error, or a timeout after `timeout_ms`.
        """
        assert self.database is not None, "start() first"
        # `call_timeout`, as every repository call: a refusal of the service's credentials
        # is raised again at once, not waited out to the timeout.
        with pymongo.timeout(call_timeout(self.database.client, self.timeout_s)):
            records = self.database[RECORDS].find({}, {"state": 1, "checksum": 1}).to_list()
        return self.update(records)

    def refresh(self) -> None:
        """Read the records if a read is due (`claim`); a failure is noted, not raised."""
        if not self.claim():
            return
        try:
            self.read()
        except Exception as exc:
            self.failed(database_unavailable_detail(exc) or f"{type(exc).__name__}.")
        finally:
            self.release()

    def hold(self) -> dict[str, Any] | None:
        """Return the 503 problem for the request if it is to a resource route, else None.

        Called by the request hook (after routing) only while the gate is closed. A
        request no route serves in full (an unknown path, a wrong method) is left to
        the app, and so is a CORS preflight (`OPTIONS`, which Flask routes itself).
        """
        if request.blueprint not in self.blueprints or request.method == "OPTIONS":
            return None
        self.refresh()
        if self.open:
            return None
        return self.problem(request.path)
