"""The migrations CLI: `python -m {{ cookiecutter.package_name }}.core.migrations {status,upgrade,downgrade,repair}`.

Reads the service's own settings (`{{ cookiecutter.package_name|upper }}_MONGO_URI`,
`{{ cookiecutter.package_name|upper }}_MONGO_DATABASE`, `.env`). A refusal or failure is
one `ERROR: ...` line on stderr and exit status 1.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from ..problems import database_unavailable_detail
from ..settings import SettingsError, load_settings
from .runner import LEASE_S, MigrationError, Runner, one_line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the command line's command and options."""
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.package_name }}.core.migrations",
        description="Apply, undo or list the database migrations.",
    )
    parser.add_argument("command", choices=["status", "upgrade", "downgrade", "repair"])
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would run; change nothing"
    )
    parser.add_argument(
        "--to",
        metavar="ID",
        help="upgrade: up to this migration (id or number); downgrade: undo those after it",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=60,
        help="seconds to wait for the database to answer, and for another runner's lock "
        f"(a dead runner's is free {LEASE_S:g} s after its death)",
    )
    parser.add_argument("--directory", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the exit status (0 done, 1 refused or failed)."""
    arguments = parse_args(argv)
    try:
        settings = load_settings()
        # No per-operation timeout (`timeoutMS`): a backfill may take minutes. The database
        # may still be starting (`make db` beside `make run`): wait for it up to --wait.
        options = {k: v for k, v in settings.mongo_client_options().items() if k != "timeoutMS"}
        options["serverSelectionTimeoutMS"] = int(arguments.wait * 1000)
        client: MongoClient[dict[str, Any]]
        with MongoClient(settings.mongo_uri.get_secret_value(), **options) as client:
            runner = Runner(
                client[settings.mongo_database],
                arguments.directory,
                wait_s=arguments.wait,
                report=print,
            )
            return run(runner, arguments)
    except (MigrationError, SettingsError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
    except Exception as error:  # the driver's errors: unreachable, not authorized, ...
        # The driver's own message can run to a page (and name hosts): its gist instead.
        reason = database_unavailable_detail(error) or one_line(error)
        print(f"ERROR: {reason}", file=sys.stderr)
    return 1


def run(runner: Runner, arguments: argparse.Namespace) -> int:
    """Run the command of `arguments` with `runner`; print what happened."""
    if arguments.command == "status":
        for status in runner.status():
            record = status.record or {}
            when = record.get("finished_at") or record.get("started_at") or ""
            by = f"{record.get('host')} pid {record.get('pid')}" if record else ""
            error = record.get("error") or ""
            print(f"{status.migration.id:<40} {status.state:<8} {when!s:<26} {by} {error}".rstrip())
        return 0
    if arguments.command == "repair":
        repaired = runner.repair(dry_run=arguments.dry_run)
        verb = "Would repair" if arguments.dry_run else "Repaired"
        print(f"{verb}: {', '.join(m.id for m in repaired) or 'nothing'}.")
        return 0
    verb = "upgrade" if arguments.command == "upgrade" else "downgrade"
    method = runner.upgrade if verb == "upgrade" else runner.downgrade
    done = method(arguments.to, dry_run=arguments.dry_run)
    if arguments.dry_run:
        print(f"Would {verb}: " + (", ".join(m.id for m in done) if done else "nothing"))
    elif verb == "upgrade":
        print(f"Up to date ({len(done)} applied now).")
    else:
        print(f"Undone: {', '.join(m.id for m in done) or 'nothing'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
