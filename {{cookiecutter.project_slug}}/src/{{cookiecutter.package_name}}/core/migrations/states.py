"""What one worker knows of the migrations' states: the cache behind the migration gate.

The resource routes must not be served while a migration is pending, running, failed or
changed: a write then could land in a collection without its validator or unique index,
and break the migration that creates them (two equal names make a unique index fail for
good). Reading the `migrations` records on every request would cost a query each, so
each worker keeps what it last read: it re-reads at most once per `recheck_s` (by
whichever request comes first; the others meanwhile answer from what is known) while
some migration is not done, and never again once all are done. `gate.MigrationGate`
adds the reading (async or sync, per framework) and the routes it holds.
"""

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import structlog

from ..problems import migrations_waiting_problem, problem
from .runner import Migration, not_done

RECHECK_S = 1.0
"""How often (s) a worker re-reads the records at most while some migration is not done."""
RETRY_AFTER_S = 2
"""The `Retry-After` (s) of a resource request held back (RFC 9110 section 10.2.3)."""

log = structlog.get_logger(__name__)


class MigrationStates:
    """The states of the migrations not done, as this worker last read them.

    `open` is True once every migration was read done (or when the gate is off): from
    then on nothing is read again, and the per-request cost is that one attribute.
    """

    def __init__(
        self,
        migrations: Sequence[Migration],
        *,
        enabled: bool = True,
        recheck_s: float = RECHECK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start knowing nothing (closed) unless `enabled` is False or there is no migration.

        Args:
            migrations: The migrations of this code (`runner.discover()`).
            enabled: False opens the gate for good (`READY_REQUIRES_MIGRATIONS=false`).
            recheck_s: The least time (s) between two reads while not all are done.
            clock: Monotonic seconds (tests pass their own).
        """
        self.migrations = tuple(migrations)
        self.open = not enabled or not self.migrations
        self.recheck_s = recheck_s
        self.clock = clock
        # {id: state} of the migrations not done, as last read ("pending" before any read),
        # and why the last read failed (None: it did not).
        self.states: dict[str, str] = {m.id: "pending" for m in self.migrations}
        self.unavailable: str | None = None
        self.checked_at = -float("inf")
        self._reading = threading.Lock()
        self._logged: dict[str, str] | None = None  # the states last logged

    def claim(self) -> bool:
        """Return True if the caller is to read the records now, else False.

        True at most once per `recheck_s`, and never while another read is in flight:
        the caller must then call `update` or `failed`, and `release`.
        """
        if self.open or not self._reading.acquire(blocking=False):
            return False
        if self.clock() - self.checked_at < self.recheck_s:
            self._reading.release()
            return False
        return True

    def release(self) -> None:
        """End the read `claim` granted."""
        self._reading.release()

    def update(self, records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
        """Take in the `migrations` records just read; return {id: state} of those not done.

        Opens the gate for good when every migration is done. Logs what changed.
        """
        states = not_done(self.migrations, records)
        if states != self._logged:
            log.info("migrations not done" if states else "migrations done", migrations=states)
            self._logged = states
        self.states, self.unavailable, self.checked_at = states, None, self.clock()
        if not states:
            self.open = True
        return states

    def failed(self, reason: str) -> None:
        """Note that the read failed (`reason`: why, for the 503); stay closed. Logs a change."""
        if reason != self.unavailable:
            log.warning("migration states not read", reason=reason)
            self._logged = None
        self.unavailable, self.checked_at = reason, self.clock()

    def problem(self, instance: str) -> dict[str, Any]:
        """Return the 503 problem of a resource request held back, for path `instance`."""
        if self.unavailable is not None:
            return problem(503, self.unavailable, instance=instance)
        return migrations_waiting_problem(self.states, instance)

    @property
    def retry_after(self) -> str:
        """Return the `Retry-After` header value of that 503 (seconds)."""
        return str(RETRY_AFTER_S)
