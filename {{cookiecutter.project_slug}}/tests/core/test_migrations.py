"""Migrations: order, records, drift, failures, the lock, downgrades, the CLI and the schema.

Most tests run small migrations written to a temporary folder (the runner takes any
folder); the first ones run the project's own.
"""

import threading
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import WriteError

from {{ cookiecutter.package_name }}.core.migrations.__main__ import main
from {{ cookiecutter.package_name }}.core.migrations.runner import (
    LOCK_ID,
    LOCKS,
    RECORDS,
    MigrationError,
    Runner,
    discover,
)
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
