"""Migrations: order, records, drift, failures, the lock, downgrades, the CLI and the schema.

Most tests run small migrations written to a temporary folder (the runner takes any
folder); the first ones run the project's own.
"""

import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import WriteError

from {{ cookiecutter.package_name }}.core.migrations.__main__ import main, parse_args
from {{ cookiecutter.package_name }}.core.migrations.runner import (
    LEASE_S,
    LOCK_ID,
    LOCKS,
    RECORDS,
    MigrationError,
    Runner,
    discover,
)
from {{ cookiecutter.package_name }}.core.migrations.states import MigrationStates
from {{ cookiecutter.package_name }}.core.settings import ENV_PREFIX, Settings
from {{ cookiecutter.package_name }}.resources import RESOURCES

from tests.mongo import unused_port

Db = Database[dict[str, Any]]

# A migration that notes each run of it in the `runs` collection (a counter per id).
COUNTED = """
import time


def upgrade(db):
    db.runs.update_one({"_id": __name__.rsplit(".", 1)[-1]}, {"$inc": {"up": 1}}, upsert=True)
    time.sleep(%(sleep)s)


def downgrade(db):
    db.runs.update_one({"_id": __name__.rsplit(".", 1)[-1]}, {"$inc": {"down": 1}})
"""
FAILING = """
def upgrade(db):
    raise RuntimeError("boom\\nsecond line")
"""
# A migration whose first run hangs (its runner is killed there); a run again is quick.
HANGS_FIRST = """
import time

from pymongo import ReturnDocument


def upgrade(db):
    runs = db.runs.find_one_and_update(
        {"_id": "0001_slow"}, {"$inc": {"up": 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    if runs["up"] == 1:
        time.sleep(120)
"""
# A runner in a process of its own: argv is the URI, the database, the folder, the lease (s).
RUNNER = """
import sys
from pathlib import Path

from pymongo import MongoClient

from {{ cookiecutter.package_name }}.core.migrations.runner import Runner

uri, database, folder, lease_s = sys.argv[1:]
with MongoClient(uri) as client:
    Runner(client[database], Path(folder), lease_s=float(lease_s)).upgrade()
"""


def write(folder: Path, name: str, source: str = COUNTED % {"sleep": 0}) -> Path:
    """Write migration `name` (e.g. "0001_first") into `folder`; return its path."""
    path = folder / f"{name}.py"
    path.write_text(source)
    return path


@pytest.fixture
def db(unmigrated_settings: Settings, mongo_client: MongoClient[dict[str, Any]]) -> Db:
    """Return the test's empty database (no migration applied)."""
    return mongo_client[unmigrated_settings.mongo_database]


@pytest.fixture
def cli(unmigrated_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Point the CLI's settings (environment) at the test's database."""
    monkeypatch.setenv(f"{ENV_PREFIX}MONGO_URI", unmigrated_settings.mongo_uri.get_secret_value())
    monkeypatch.setenv(f"{ENV_PREFIX}MONGO_DATABASE", unmigrated_settings.mongo_database)
    return monkeypatch


def test_upgrade_applies_the_projects_migrations_once_and_the_server_enforces_them(
    db: Db,
) -> None:
    runner = Runner(db)
    ids = [migration.id for migration in discover()]
    assert [m.id for m in runner.upgrade(dry_run=True)] == ids
    assert db.list_collection_names() == []  # a dry run writes nothing
    assert [m.id for m in runner.upgrade()] == ids
    assert runner.upgrade() == []
    assert {s.state for s in runner.status()} == {"done"}
    for resource in RESOURCES:
        created = {index["name"] for index in db[resource.collection].list_indexes()}
        assert {options["name"] for _, options in resource.indexes} <= created, resource.name
        with pytest.raises(WriteError) as refused:
            db[resource.collection].insert_one({"name": 42})
        assert refused.value.code == 121  # Document failed validation


def test_migrations_run_in_the_order_of_their_numbers(db: Db, tmp_path: Path) -> None:
    for name in ("0010_last", "0002_second", "0001_first"):
        write(tmp_path, name)
    applied = Runner(db, tmp_path).upgrade()
    assert [m.id for m in applied] == ["0001_first", "0002_second", "0010_last"]
    record = db[RECORDS].find_one({"_id": "0002_second"})
    assert record is not None
    assert record["state"] == "done"
    assert record["checksum"] == applied[1].checksum
    assert record["started_at"] <= record["finished_at"]
    assert record["host"]
    assert record["pid"]


def test_status_and_dry_run_list_what_would_run_without_running_it(
    db: Db, tmp_path: Path, cli: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "0001_first")
    write(tmp_path, "0002_second")
    assert main(["upgrade", "--to", "0001", "--directory", str(tmp_path)]) == 0
    assert main(["upgrade", "--dry-run", "--directory", str(tmp_path)]) == 0
    assert main(["status", "--directory", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "Would upgrade: 0002_second" in out
    assert out[-2].split()[:2] == ["0001_first", "done"]
    assert out[-1].split() == ["0002_second", "pending"]
    assert db.runs.count_documents({}) == 1


def test_a_changed_applied_migration_is_refused_with_one_line(
    db: Db, tmp_path: Path, cli: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "0001_first")
    Runner(db, tmp_path).upgrade()
    path.write_text(path.read_text() + "\n# edited after it ran\n")
    write(tmp_path, "0002_second")
    assert main(["upgrade", "--directory", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith("ERROR: migration 0001_first changed after it was applied")
    assert db.runs.find_one({"_id": "0002_second"}) is None
    assert [s.state for s in Runner(db, tmp_path).status()] == ["changed", "pending"]


def test_repair_realigns_the_checksum_of_a_moved_or_reformatted_migration(
    db: Db, tmp_path: Path, cli: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a template update moved an applied migration: `repair`, then `upgrade` runs on."""
    path = write(tmp_path, "0001_first")
    Runner(db, tmp_path).upgrade()
    path.write_text("# moved by a template update\n" + path.read_text())
    write(tmp_path, "0002_second")
    assert main(["repair", "--dry-run", "--directory", str(tmp_path)]) == 0
    assert [s.state for s in Runner(db, tmp_path).status()] == ["changed", "pending"]
    assert main(["repair", "--directory", str(tmp_path)]) == 0
    assert main(["repair", "--directory", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["Would repair: 0001_first.", "Repaired: 0001_first.", "Repaired: nothing."]
    assert [s.state for s in Runner(db, tmp_path).status()] == ["done", "pending"]
    assert main(["upgrade", "--directory", str(tmp_path)]) == 0
    assert db.runs.count_documents({}) == 2  # the first ran once: repair never re-runs it


def test_a_failing_migration_is_recorded_never_done_and_retried_next_time(
    db: Db, tmp_path: Path, cli: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "0001_first")
    failing = write(tmp_path, "0002_failing", FAILING)
    write(tmp_path, "0003_third")
    assert main(["upgrade", "--directory", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "ERROR: migration 0002_failing failed: RuntimeError: boom\n"
    states = {s.migration.id: s.state for s in Runner(db, tmp_path).status()}
    assert states == {"0001_first": "done", "0002_failing": "failed", "0003_third": "pending"}
    record = db[RECORDS].find_one({"_id": "0002_failing"})
    assert record is not None
    assert record["error"] == "RuntimeError: boom"
    assert db[LOCKS].count_documents({}) == 0  # the lock was released

    failing.write_text(COUNTED % {"sleep": 0})  # fixed: not applied yet, so no drift
    assert [m.id for m in Runner(db, tmp_path).upgrade()] == ["0002_failing", "0003_third"]
    assert db.runs.find_one({"_id": "0001_first"}) == {"_id": "0001_first", "up": 1}


def test_two_runners_started_at_once_run_each_migration_exactly_once(
    db: Db, tmp_path: Path
) -> None:
    names = ["0001_first", "0002_second", "0003_third"]
    for name in names:
        write(tmp_path, name, COUNTED % {"sleep": 0.1})
    start = threading.Barrier(2)
    applied: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            applied.append([m.id for m in Runner(db, tmp_path, wait_s=10).upgrade()])
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(applied, key=len) == [[], names]
    assert [run["up"] for run in db.runs.find(sort=[("_id", 1)])] == [1, 1, 1]


def test_a_runner_waits_a_bounded_time_for_a_held_lock(db: Db, tmp_path: Path) -> None:
    write(tmp_path, "0001_first")
    other = Runner(db, tmp_path)
    assert other._try_lock()
    with pytest.raises(MigrationError, match=r"another runner \(.*\) holds the migration lock"):
        Runner(db, tmp_path, wait_s=0.3).upgrade()
    assert db.runs.count_documents({}) == 0
    db[LOCKS].delete_one({"_id": LOCK_ID})
    assert len(Runner(db, tmp_path, wait_s=0.3).upgrade()) == 1


def test_downgrade_undoes_the_last_or_every_migration_after_a_target(
    db: Db, tmp_path: Path
) -> None:
    names = ["0001_first", "0002_second", "0003_third"]
    for name in names:
        write(tmp_path, name)
    runner = Runner(db, tmp_path)
    runner.upgrade()
    assert [m.id for m in runner.downgrade(dry_run=True)] == ["0003_third"]
    assert [m.id for m in runner.downgrade()] == ["0003_third"]
    assert [m.id for m in runner.downgrade("0001")] == ["0002_second"]
    assert [s.state for s in runner.status()] == ["done", "pending", "pending"]
    assert [run.get("down", 0) for run in db.runs.find(sort=[("_id", 1)])] == [0, 1, 1]
    write(tmp_path, "0002_second", "def upgrade(db):\n    pass\n")
    runner.upgrade()
    with pytest.raises(MigrationError, match="0002_second has no downgrade"):
        runner.downgrade("0001")
    assert [s.state for s in runner.status()] == ["done", "done", "done"]


def test_an_unreachable_database_is_one_line_and_exit_status_1(
    cli: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.setenv(f"{ENV_PREFIX}MONGO_URI", f"mongodb://127.0.0.1:{unused_port()}/")
    assert main(["status", "--wait", "0.2"]) == 1
    assert capsys.readouterr().err == "ERROR: The database cannot be reached; retry later.\n"


def wait_until(condition: Any, timeout: float = 30) -> None:
    """Poll `condition()` every 20 ms until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_runner_killed_mid_migration_is_taken_over_within_its_lease_and_the_migration_rerun(
    db: Db, tmp_path: Path, unmigrated_settings: Settings
) -> None:
    write(tmp_path, "0001_slow", HANGS_FIRST)
    lease_s = 1.5
    uri = unmigrated_settings.mongo_uri.get_secret_value()
    killed = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-c", RUNNER, uri, db.name, str(tmp_path), str(lease_s)]
    )
    try:
        wait_until(lambda: db.runs.find_one({"_id": "0001_slow"}) is not None)
        time.sleep(2 * lease_s)  # two leases into the migration: renewed, still held
        with pytest.raises(MigrationError, match="holds the migration lock"):
            Runner(db, tmp_path, wait_s=0.2).upgrade()
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait(10)
    killed_at = time.monotonic()
    assert [s.state for s in Runner(db, tmp_path).status()] == ["running"]

    applied = Runner(db, tmp_path).upgrade()  # the CLI's defaults: waits up to 60 s
    took = time.monotonic() - killed_at
    print(f"killed runner taken over and migration done {took:.2f} s after SIGKILL")
    assert [m.id for m in applied] == ["0001_slow"]
    assert took <= lease_s + 1.0, f"took over {took:.2f} s after the kill"
    assert db.runs.find_one({"_id": "0001_slow"}) == {"_id": "0001_slow", "up": 2}
    assert [s.state for s in Runner(db, tmp_path).status()] == ["done"]
    assert db[LOCKS].count_documents({}) == 0


def test_the_lease_is_renewed_while_a_long_migration_runs(db: Db, tmp_path: Path) -> None:
    write(tmp_path, "0001_long", COUNTED % {"sleep": 1.5})
    lease_s = 0.45
    errors: list[BaseException] = []

    def run() -> None:
        try:
            Runner(db, tmp_path, lease_s=lease_s).upgrade()
        except BaseException as error:  # reported below
            errors.append(error)

    first = threading.Thread(target=run)
    first.start()
    try:
        wait_until(lambda: db.runs.find_one({"_id": "0001_long"}) is not None)
        time.sleep(2 * lease_s)  # two leases into the migration: renewed, still held
        with pytest.raises(MigrationError, match="holds the migration lock"):
            Runner(db, tmp_path, wait_s=lease_s).upgrade()
    finally:
        first.join(30)
    assert errors == []
    assert db.runs.find_one({"_id": "0001_long"}) == {"_id": "0001_long", "up": 1}
    assert db[LOCKS].count_documents({}) == 0


def test_a_runner_that_lost_its_lease_records_nothing_over_the_one_that_took_over(
    db: Db, tmp_path: Path
) -> None:
    write(tmp_path, "0001_long", COUNTED % {"sleep": 1.0})
    errors: list[BaseException] = []

    def run() -> None:
        try:
            Runner(db, tmp_path, lease_s=0.3).upgrade()
        except BaseException as error:  # reported below
            errors.append(error)

    first = threading.Thread(target=run)
    first.start()
    try:
        wait_until(lambda: db.runs.find_one({"_id": "0001_long"}) is not None)
        # Another runner takes over, as after a lease that ran out: its lock, its record.
        db[LOCKS].replace_one(
            {"_id": LOCK_ID}, {"_id": LOCK_ID, "owner": "other", "lease_until": datetime.max}
        )
        db[RECORDS].update_one({"_id": "0001_long"}, {"$set": {"owner": "other"}})
    finally:
        first.join(30)
    assert len(errors) == 1
    assert "lost the migration lock" in str(errors[0])
    record = db[RECORDS].find_one({"_id": "0001_long"})
    assert record is not None
    assert (record["state"], record["owner"]) == ("running", "other")
    assert db[LOCKS].find_one({"_id": LOCK_ID}, {"owner": 1}) == {"_id": LOCK_ID, "owner": "other"}


def test_the_cli_waits_longer_than_a_dead_runners_lease_by_default() -> None:
    assert parse_args(["upgrade"]).wait > LEASE_S


def test_the_migration_states_are_read_by_one_caller_at_most_once_per_interval() -> None:
    now = [0.0]
    migrations = discover()
    states = MigrationStates(migrations, recheck_s=1.0, clock=lambda: now[0])
    assert states.claim()
    now[0] += 5
    assert not states.claim()  # a read is in flight
    assert states.update([]) == {m.id: "pending" for m in migrations}
    states.release()
    assert not states.claim()  # read less than a second ago
    now[0] += 1
    assert states.claim()
    done = [{"_id": m.id, "state": "done", "checksum": m.checksum} for m in migrations]
    assert states.update(done) == {}
    states.release()
    assert states.open
    now[0] += 5
    assert not states.claim()  # open: never read again
