"""Find, record and run migrations: in order, once each, under a lock, refusing drift.

A migration is a module `NNNN_<name>.py` (its id is the file name without `.py`) with
`upgrade(db)` and optionally `downgrade(db)`. The template's own migrations live in this
folder, each resource's in its package (`resources/<plural>/migrations/`); they share one
sequence of numbers and run in its order. The `RECORDS` collection holds one document
per migration that ran:

    {_id: "0002_create_items", checksum, state: "running" | "done" | "failed",
     started_at, finished_at, host, pid, owner, error}

`checksum` is the SHA-256 of the file when it ran: a file changed after it was applied
(drift) makes every command but `status` refuse, since the database no longer matches
what the code says happened. Only a finished `upgrade` marks a migration "done"; a failed
one keeps its error and runs again, from the start, on the next `upgrade` (so migrations
must be safe to re-run: see `operations`).

The lock is one lease document in `LOCKS`, taken by an upsert that only matches an
expired lease. The lease is short (`LEASE_S`, 15 s) and a background thread of the
holder renews it every third of that while migrations run, so a backfill of an hour
keeps it, and a runner that died (SIGKILL, lost host) holds it at most `LEASE_S` more.
A second runner waits for it (at most `wait_s`, default 60 s, longer than a lease),
then reads the records again: what the first one applied is done, and a migration the
dead one left "running" runs again, from the start. A runner that could not renew for a
whole lease (the database unreachable that long) stops after the migration in hand and
records nothing more: every write to a record names its runner (`owner`), so a late
runner never overwrites the outcome of the one that took over. Leases compare this
host's clock with the holder's: keep hosts' clocks in sync (NTP), as for any lease.
"""

import hashlib
import importlib.util
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pymongo
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from ..clock import utcnow

Document = dict[str, Any]

RECORDS = "migrations"
LOCKS = "migration_lock"
LOCK_ID = "lock"
LEASE_S = 15.0
"""How long (s) the lock outlives its last renewal: a dead runner's lock is free after this."""
DIRECTORY = Path(__file__).resolve().parent
PACKAGE_ROOT = DIRECTORY.parents[1]
"""The service's package (`src/<package>/`): module names are relative to it."""


def directories() -> list[Path]:
    """Return where migrations live: this folder, then each resource's `migrations/`."""
    return [DIRECTORY, *sorted((PACKAGE_ROOT / "resources").glob("*/migrations"))]


FILE_NAME = re.compile(r"(?P<number>[0-9]{4})_[a-z0-9_]+\.py")


class MigrationError(Exception):
    """A refusal or failure; its message is one line, printed by the CLI."""


@dataclass(frozen=True)
class Migration:
    """One migration file: its id (file name without `.py`), path and checksum."""

    id: str
    path: Path
    checksum: str

    @property
    def number(self) -> str:
        """The four digits the id starts with, e.g. "0002"."""
        return self.id[:4]


@dataclass(frozen=True)
class Status:
    """What the records say of one migration: "pending", "done", "failed", "running", "changed".

    "changed" is drift: the file differs from the one that was applied.
    """

    migration: Migration
    state: str
    record: Mapping[str, Any] | None


def discover(folders: Sequence[Path] | None = None) -> list[Migration]:
    """Return the migrations in `folders` (default: `directories()`), ordered by number.

    Raises:
        MigrationError: two files share a number.
    """
    found: dict[str, Migration] = {}
    paths = [path for folder in folders or directories() for path in sorted(folder.glob("*.py"))]
    for path in paths:
        match = FILE_NAME.fullmatch(path.name)
        if match is None:
            continue
        migration = Migration(path.stem, path, hashlib.sha256(path.read_bytes()).hexdigest())
        other = found.setdefault(match["number"], migration)
        if other is not migration:
            raise MigrationError(f"migrations {other.id} and {migration.id} share a number")
    return [found[number] for number in sorted(found)]


def state_of(migration: Migration, record: Mapping[str, Any] | None) -> str:
    """Return the state of `migration` given its record (None: it never ran)."""
    if record is None:
        return "pending"
    if record.get("state") == "done" and record.get("checksum") != migration.checksum:
        return "changed"
    return str(record.get("state", "pending"))


def not_done(
    migrations: Sequence[Migration], records: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """Return {id: state} of the `migrations` not applied as they are now, in their order.

    A state is "pending" (never ran), "running" (started, not finished: in progress,
    or its runner died), "failed" or "changed" (edited since it was applied). Used by
    `/health/ready` and the migration gate, with the records they read (both drivers).
    """
    by_id = {record["_id"]: record for record in records}
    states = {m.id: state_of(m, by_id.get(m.id)) for m in migrations}
    return {id_: state for id_, state in states.items() if state != "done"}


def module_name(migration: Migration) -> str:
    """Return the name to import `migration` as: the module of its folder's package.

    `resources/books/migrations/0002_create_books.py` is
    `<package>.resources.books.migrations.0002_create_books`, so its relative imports
    (`from .. import BOOKS`) work; a file outside the package (a test's) joins this one.
    """
    try:
        parts = migration.path.with_suffix("").relative_to(PACKAGE_ROOT).parts
    except ValueError:
        return f"{__package__}.{migration.id}"
    return ".".join((PACKAGE_ROOT.name, *parts))


def load(migration: Migration) -> ModuleType:
    """Import a migration's module (as a module of its package, so `..` imports work)."""
    spec = importlib.util.spec_from_file_location(module_name(migration), migration.path)
    if spec is None or spec.loader is None:
        raise MigrationError(f"cannot load migration {migration.id} from {migration.path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_line(exc: BaseException) -> str:
    """Return `exc` as one line: its class and first line of its message."""
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


class Runner:
    """Run the migrations against `db`, recording each in `RECORDS`."""

    def __init__(
        self,
        db: Database[Document],
        directory: Path | None = None,
        *,
        lease_s: float = LEASE_S,
        wait_s: float = 60,
        report: Callable[[str], None] = lambda line: None,
    ) -> None:
        """Prepare a runner (nothing is read or written yet).

        Args:
            db: The service's database (a sync pymongo `Database`).
            directory: Where the migration files are (default: `directories()`).
            lease_s: How long (s) the lock lasts unless renewed; a thread renews it every
                `lease_s / 3` while this runner holds it.
            wait_s: How long (s) to wait for a lock another runner holds (or for its
                lease to run out, if that runner died).
            report: Called with one line as each migration starts and ends.
        """
        self.db = db
        self.directory = directory
        self.lease_s = lease_s
        self.wait_s = wait_s
        self.report = report
        self.records = db[RECORDS]
        self.locks = db[LOCKS]
        self.owner = {"host": socket.gethostname(), "pid": os.getpid(), "id": uuid.uuid4().hex}
        # Set by the renewing thread when the lease ran out and another runner took it.
        self.lost = threading.Event()

    def status(self) -> list[Status]:
        """Return every migration's state, in order."""
        records = {record["_id"]: record for record in self.records.find()}
        return [Status(m, state_of(m, records.get(m.id)), records.get(m.id)) for m in self._all()]

    def upgrade(self, target: str | None = None, *, dry_run: bool = False) -> list[Migration]:
        """Apply every migration not done yet, in order, up to `target` (an id or number).

        Returns what ran (with `dry_run`: what would run; nothing is written or locked).

        Raises:
            MigrationError: drift, an unknown `target`, the lock not free within
                `wait_s`, or a migration failed (recorded as failed with its error).
        """
        wanted = self._until(target)
        todo = self._not_done(wanted)
        if dry_run or not todo:
            return todo
        with self._lock():
            todo = self._not_done(wanted)  # another runner may have applied them meanwhile
            for migration in todo:
                self._renew()
                self._run(migration, "upgrade")
        return todo

    def downgrade(self, target: str | None = None, *, dry_run: bool = False) -> list[Migration]:
        """Undo the last applied migration, or every one after `target` (newest first).

        Raises:
            MigrationError: drift, an unknown `target`, a migration to undo has no
                `downgrade`, the lock is not free, or a downgrade failed.
        """
        with self._lock() if not dry_run else _nothing():
            todo = self._to_undo(target)
            if dry_run:
                return todo
            for migration in todo:
                self._renew()
                self._run(migration, "downgrade")
        return todo

    def repair(self, *, dry_run: bool = False) -> list[Migration]:
        """Record the current checksum of every applied migration whose file changed.

        For a file that moved or was reformatted by a template update while what it
        does stayed the same (Flyway's `repair` does the same): review `status` first.
        Returns what was (with `dry_run`: would be) realigned.

        Raises:
            MigrationError: the lock is not free within `wait_s`.
        """
        changed = [status.migration for status in self.status() if status.state == "changed"]
        if dry_run or not changed:
            return changed
        with self._lock():
            for migration in changed:
                self.records.update_one(
                    {"_id": migration.id, "state": "done"},
                    {"$set": {"checksum": migration.checksum, "repaired_at": utcnow()}},
                )
        return changed

    def _all(self) -> list[Migration]:
        """Return the migrations of the directory."""
        return discover(None if self.directory is None else [self.directory])

    def _find(self, target: str) -> Migration:
        """Return the migration named by `target` (its id or its number)."""
        for migration in self._all():
            if target in (migration.id, migration.number):
                return migration
        raise MigrationError(f"no migration {target!r}")

    def _until(self, target: str | None) -> list[Migration]:
        """Return the migrations up to and including `target` (all when None)."""
        migrations = self._all()
        if target is None:
            return migrations
        last = self._find(target)
        return [m for m in migrations if m.id <= last.id]

    def _checked(self) -> list[Status]:
        """Return `status()`, refusing drift.

        Raises:
            MigrationError: an applied migration's file changed since it ran.
        """
        statuses = self.status()
        for status in statuses:
            if status.state == "changed":
                raise MigrationError(
                    f"migration {status.migration.id} changed after it was applied "
                    "(checksum differs): restore the file and put the change in a new "
                    "migration; if only the file moved or its imports changed (a template "
                    "update), run `repair`"
                )
        return statuses

    def _not_done(self, wanted: Sequence[Migration]) -> list[Migration]:
        """Return the migrations of `wanted` that are not done (drift refused)."""
        done = {s.migration.id for s in self._checked() if s.state == "done"}
        return [m for m in wanted if m.id not in done]

    def _to_undo(self, target: str | None) -> list[Migration]:
        """Return the applied migrations to undo, newest first; all must have `downgrade`."""
        done = [s.migration for s in self._checked() if s.state == "done"]
        if target is None:
            todo = done[-1:]
        else:
            keep = self._find(target)
            todo = [m for m in done if m.id > keep.id]
        for migration in todo:
            if not hasattr(load(migration), "downgrade"):
                raise MigrationError(f"migration {migration.id} has no downgrade: nothing undone")
        return todo[::-1]

    def _run(self, migration: Migration, direction: str) -> None:
        """Run `upgrade` or `downgrade` of `migration`, recording its start and its outcome.

        Raises:
            MigrationError: the migration raised (recorded as failed), or this runner
                lost the lock meanwhile (its outcome is then not recorded).
        """
        started = time.monotonic()
        previous = self.records.find_one({"_id": migration.id})
        if previous is not None and previous.get("state") == "running":
            # We hold the lock, so the runner that started it is gone (its lease ran out).
            self.report(
                f"{migration.id} was left running by {previous.get('host')} pid "
                f"{previous.get('pid')} (that runner stopped): running it again"
            )
        self.report(f"{direction} {migration.id} ...")
        self.records.update_one(
            {"_id": migration.id},
            {
                "$set": {
                    "checksum": migration.checksum,
                    "state": "running",
                    "direction": direction,
                    "started_at": utcnow(),
                    "finished_at": None,
                    "host": self.owner["host"],
                    "pid": self.owner["pid"],
                    "owner": self.owner["id"],
                    "error": None,
                }
            },
            upsert=True,
        )
        # Every later write names this runner: one that lost the lock writes nothing.
        record = {"_id": migration.id, "owner": self.owner["id"]}
        try:
            getattr(load(migration), direction)(self.db)
        except Exception as exc:
            error = one_line(exc)
            self.records.update_one(
                record, {"$set": {"state": "failed", "finished_at": utcnow(), "error": error}}
            )
            raise MigrationError(f"migration {migration.id} failed: {error}") from exc
        if self.lost.is_set():
            raise MigrationError(
                f"lost the migration lock while running {migration.id} (no renewal for "
                f"{self.lease_s:g} s): another runner runs it again; stopped"
            )
        if direction == "downgrade":
            self.records.delete_one(record)  # pending again
        else:
            self.records.update_one(record, {"$set": {"state": "done", "finished_at": utcnow()}})
        self.report(f"{direction} {migration.id} done ({time.monotonic() - started:.2f} s)")

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Hold the migration lock for the block, renewed by a thread: wait at most `wait_s`.

        Raises:
            MigrationError: another runner held it for longer than `wait_s`.
        """
        deadline = time.monotonic() + self.wait_s
        while not self._try_lock():
            if time.monotonic() > deadline:
                holder = self.locks.find_one({"_id": LOCK_ID}) or {}
                raise MigrationError(
                    f"another runner ({holder.get('host')}, pid {holder.get('pid')}) holds the "
                    f"migration lock until {holder.get('lease_until')} UTC; waited {self.wait_s} s"
                )
            time.sleep(0.1)
        self.lost.clear()
        stop = threading.Event()
        renewing = threading.Thread(
            target=self._keep_renewing, args=(stop,), name="migration-lease", daemon=True
        )
        renewing.start()
        try:
            yield
        finally:
            stop.set()
            renewing.join()
            self.locks.delete_one({"_id": LOCK_ID, "owner": self.owner["id"]})

    def _keep_renewing(self, stop: threading.Event) -> None:
        """Renew the lease every `lease_s / 3` until `stop` is set or the lease is lost.

        A renewal that fails (database unreachable a moment) is tried again at the next
        tick: the lease still runs for two more. One that finds the lock taken sets
        `lost` (the lease expired and another runner took over) and ends.
        """
        interval = self.lease_s / 3
        while not stop.wait(interval):
            try:
                with pymongo.timeout(interval):
                    renewed = self._extend()
            except PyMongoError:
                continue
            if not renewed:
                self.lost.set()
                return

    def _try_lock(self) -> bool:
        """Take the lock if it is free or its lease expired; return whether it is ours."""
        now = utcnow()
        try:
            self.locks.update_one(
                {"_id": LOCK_ID, "lease_until": {"$lt": now}},
                {"$set": self._lease(now)},
                upsert=True,
            )
        except DuplicateKeyError:  # held: the upsert tried to insert a second lock
            return False
        return True

    def _renew(self) -> None:
        """Extend the lease before a migration.

        Raises:
            MigrationError: the lease expired and another runner took the lock.
        """
        if self.lost.is_set() or not self._extend():
            raise MigrationError("lost the migration lock (lease expired): stopped")

    def _extend(self) -> bool:
        """Move the lease's end to `lease_s` from now; return False if the lock is not ours."""
        renewed = self.locks.update_one(
            {"_id": LOCK_ID, "owner": self.owner["id"]}, {"$set": self._lease(utcnow())}
        )
        return renewed.matched_count == 1

    def _lease(self, now: datetime) -> Document:
        """Return the lock document's fields for a lease starting `now`."""
        return {
            "owner": self.owner["id"],
            "host": self.owner["host"],
            "pid": self.owner["pid"],
            "lease_until": now + timedelta(seconds=self.lease_s),
        }


@contextmanager
def _nothing() -> Iterator[None]:
    """A block that holds no lock (a dry run)."""
    yield
