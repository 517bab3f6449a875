"""Build and run baked projects for the template's tests: bake, venv, DB and server processes.

Everything here starts real processes on loopback and stops them by pid. Shared by
the bake, smoke, contract and resilience tests (and the benchmark harness).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cookiecutter.main import cookiecutter

from tests.process_guard import group_members

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
UV_CACHE_DIR = TEMPLATE_ROOT / ".cache" / "uv"
BIN = Path(sys.executable).parent

# Every supported variant, by name: the answers that differ from the defaults.
VARIANTS: dict[str, dict[str, str]] = {
    "fastapi-pymongo": {"framework": "fastapi", "async_driver": "pymongo"},
    "fastapi-motor": {"framework": "fastapi", "async_driver": "motor"},
    "flask": {"framework": "flask", "async_driver": "pymongo"},
}
PACKAGE = "item_service"
ENV_PREFIX = "ITEM_SERVICE_"


# The resource the session's shared bakes (the `baked` fixture) are made with. Not the
# default, so the core suite (lint, mypy, each bake's own tests, the contract, OpenAPI
# parity) proves the rename on every variant; suites that bake for themselves
# (containers, resilience, READMEs, benchmarks) keep the default resource, `item`.
SHARED_RESOURCE: dict[str, str] = {"resource_name": "book", "resource_plural": "books"}

# Shared bakes that grow after baking: the variant's default resource, then each named
# resource added with `make resource NAME=...`. The contract suite serves every resource
# of one in the same service.
GROWN: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "fastapi-pymongo+orders": ("fastapi-pymongo", [("order", "orders")]),
    "flask+orders": ("flask", [("order", "orders")]),
}

# The shared bake the generated README's field recipes are applied to, exactly as written
# (tests/test_recipes.py), and the fields they add to its resource. The recipes change only
# files both frameworks share; FastAPI (the default answer) validates bodies from parsed
# JSON, where `strict` numbers matter. A two-word resource proves the recipes' names.
RECIPES = "fastapi-pymongo+recipes"
RECIPE_ANSWERS: dict[str, str] = {
    **VARIANTS["fastapi-pymongo"],
    "resource_name": "order_line",
    "resource_plural": "order_lines",
    "tracing": "opentelemetry",
}
RECIPE_FIELDS = frozenset({"quantity", "sku", "price_cents", "status", "dimensions"})


# Shared bakes with an access mode, pairwise over (variant, mode): each variant and each
# mode appears, and each framework meets each mode (`auth=none` is every other bake).
AUTHED: dict[str, tuple[str, str]] = {
    "fastapi-pymongo+jwt": ("fastapi-pymongo", "jwt"),
    "flask+api_key": ("flask", "api_key"),
    "flask+jwt": ("flask", "jwt"),
    "fastapi-motor+api_key": ("fastapi-motor", "api_key"),
}


# Shared bakes that also answer `tracing=opentelemetry`, pairwise: tracing meets each
# framework, each FastAPI driver, each access mode and each kind of tracing lock (with
# and without auth=jwt's packages). Their own `make check` (tests/test_auth.py, and
# tests/test_recipes.py for RECIPES, auth none) runs the tracing tests, the end-to-end
# one under gunicorn included; the contract suite serves them with tracing baked in but
# off.
TRACED = frozenset({"fastapi-pymongo+jwt", "flask+api_key", "fastapi-motor+api_key", RECIPES})


def bake_answers(name: str) -> dict[str, str]:
    """Return the answers of shared bake `name` (a variant, a grown, an authed bake, RECIPES)."""
    if name == RECIPES:
        return dict(RECIPE_ANSWERS)
    if name in AUTHED:
        variant, mode = AUTHED[name]
        tracing = "opentelemetry" if name in TRACED else "none"
        return {**VARIANTS[variant], **SHARED_RESOURCE, "auth": mode, "tracing": tracing}
    if name in GROWN:
        return dict(VARIANTS[GROWN[name][0]])
    return {**VARIANTS[name], **SHARED_RESOURCE}


# The example resource's fields beside the unique `name` every resource here has (what
# `make resource` declares): a nullable description and tags, which the `tag` filter matches.
EXAMPLE_FIELDS = frozenset({"description", "tags"})


def extra_fields(name: str, plural: str) -> frozenset[str]:
    """Return the fields resource `plural` of shared bake `name` has beyond id, name and stamps.

    The example resource (a bake's first) has the example's fields, and in the RECIPES
    bake the README recipes' too; a resource added by `make resource` has none.
    """
    if plural != resources_of(name)[0][1]:
        return frozenset()
    return EXAMPLE_FIELDS | (RECIPE_FIELDS if name == RECIPES else frozenset())


def apply_patch(project: Path, diff: str, *, check_only: bool = False) -> None:
    """Apply unified `diff` (paths `a/...`, `b/...`) to `project` as `git apply` does.

    Raises AssertionError with git's message when a hunk does not apply; nothing is
    changed then. `project` need not be a git repository (and a repository around it is
    ignored, so the paths stay relative to `project`).
    """
    done = subprocess.run(
        ["git", "apply", "--verbose", *(["--check"] if check_only else []), "-"],
        cwd=project,
        input=diff,
        env={**os.environ, "GIT_CEILING_DIRECTORIES": str(project.parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"git apply failed in {project}:\n{done.stderr}\n{diff}")


def resources_of(name: str) -> list[tuple[str, str]]:
    """Return every (singular, plural) resource shared bake `name` serves, first one first."""
    answers = bake_answers(name)
    first = (answers.get("resource_name", "item"), answers.get("resource_plural", "items"))
    return [first, *(GROWN[name][1] if name in GROWN else [])]


def bake(output_dir: Path, **context: str) -> Path:
    """Generate a project from the template with `context` over the defaults.

    Returns the project directory. Raises cookiecutter's FailedHookException when a
    hook rejects the answers.
    """
    return Path(
        cookiecutter(
            str(TEMPLATE_ROOT),
            no_input=True,
            output_dir=str(output_dir),
            extra_context=context,
            default_config=True,
        )
    )


def uv_env() -> dict[str, str]:
    """Return an environment for uv: the shared wheel cache, this interpreter, no downloads.

    Baked projects name their Python in `.python-version` (3.12 by default); the suite
    runs them on the interpreter it runs on (any of the supported versions will do, and
    the locks are the same for all), and never lets uv fetch an interpreter.
    """
    return {
        **os.environ,
        "UV_CACHE_DIR": str(UV_CACHE_DIR),
        "UV_NO_PROGRESS": "1",
        "UV_PYTHON": getattr(sys, "_base_executable", sys.executable),
        "UV_PYTHON_DOWNLOADS": "never",
    }


def install(project: Path) -> Path:
    """Create `project/.venv` from the project's dev lock; return its python.

    Runs the project's own `make install` (`uv pip sync --require-hashes
    requirements-dev.txt`: exactly the locked versions, then the project itself), with the
    tooling's uv and the shared wheel cache, so every bake installs what a user gets,
    without downloading it again.
    """
    run(["make", "install", f"UV={BIN / 'uv'}"], cwd=project, env=uv_env())
    return project / ".venv" / "bin" / "python"


def run(
    args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command, raising AssertionError with its output when it fails."""
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return done


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check, *, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    """Poll `check()` every 50 ms until it returns true; raise TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout} s")


def port_open(port: int) -> bool:
    """Return True when something accepts TCP connections on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    """Send `sig` to `proc`, wait up to `timeout` s (then SIGKILL); return its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)


class Background(NamedTuple):
    """A `make TARGET` running in the background."""

    log: Path
    pid: int  # make's, which is also its process group's id


@contextlib.contextmanager
def make_target(
    project: Path, args: list[str], env: dict[str, str], *, grace: float = 15
) -> Iterator[Background]:
    """Run `make ARGS` in the background; yield it; stop all it started at the end.

    make runs in a process group of its own, and the whole group is stopped (SIGINT,
    SIGKILL after `grace` s). Before, SIGTERM to the group and a 30 s wait for make alone:
    make waits for its children, so a SecantusDB that hung on SIGTERM outlived the
    SIGKILLed make, re-parented to PID 1.
    """
    log_path = project / f"make-{args[0]}-{free_port()}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["make", *args],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Background(log_path, proc.pid)
    finally:
        stop_group(proc, grace=grace)


@contextlib.contextmanager
def made_run(project: Path, env: dict[str, str], port: int) -> Iterator[Path]:
    """Serve `project` with `make run` (as its README says) until `/health/ready` is 200.

    Yields the log of `make run`; on leaving, `make` and everything it started are
    stopped (`make_target`). `env` must bind the service to 127.0.0.1:`port`.
    """
    with make_target(project, ["run"], env) as serving:
        wait_for(
            lambda: http("GET", f"http://127.0.0.1:{port}/health/ready")[0] == 200,
            timeout=90,
            what=f"make run ({serving.log})",
        )
        yield serving.log


def stop_group(proc: subprocess.Popen[bytes], *, grace: float = 15) -> None:
    """Stop `proc` and every process in its group: SIGINT, then SIGKILL after `grace` s.

    `proc` must lead its own process group (started with `start_new_session=True`), as
    `make TARGET` does for the tools it runs. Every process of the group gets the signal:
    make waits for its children, gunicorn shuts down quickly, SecantusDB stops (it was
    seen hanging on SIGTERM). SIGKILL for whatever is still there after `grace` s (a
    server hung in its shutdown, a process that inherited SIGINT as ignored). Returns
    once no process of the group runs.
    """
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not group_members(proc.pid):
                proc.wait(10)  # reap the leader (a zombie by now)
                return
            time.sleep(0.05)
    raise AssertionError(f"process group {proc.pid} survived SIGKILL: {group_members(proc.pid)}")


@dataclass
class MongoServer:
    """A SecantusDB server process on loopback (a MongoDB wire-protocol server)."""

    port: int
    storage: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """Connection URI; retryWrites=false keeps SecantusDB 0.7 fast (see TECH_NOTES)."""
        return f"mongodb://127.0.0.1:{self.port}/?retryWrites=false"

    def start(self) -> MongoServer:
        """Start the server and wait until it accepts connections (at most 30 s)."""
        self.proc = subprocess.Popen(
            [
                str(BIN / "secantusd-py"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--storage-path",
                self.storage,
                "--standalone",
                "--log-level",
                "WARNING",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: port_open(self.port), timeout=30, what="SecantusDB")
        return self

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        if self.proc is not None:
            stop(self.proc, sig=signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server gracefully: SIGINT (it ignores SIGTERM), SIGKILL after 30 s."""
        if self.proc is not None:
            stop(self.proc, sig=signal.SIGINT)


@contextlib.contextmanager
def mongo_server(storage: str = ":memory:") -> Iterator[MongoServer]:
    """Run a SecantusDB process for the duration of the block."""
    server = MongoServer(port=free_port(), storage=storage).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class ServiceProcess:
    """A baked service running under gunicorn on 127.0.0.1."""

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """Return everything the service wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def gunicorn_service(
    project: Path,
    mongo_uri: str,
    *,
    workers: int = 2,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[ServiceProcess]:
    """Serve `project` with its own gunicorn.conf.py on 127.0.0.1:`port` (default: a free one).

    Waits for /health/live (at most 60 s); stops gunicorn at the end of the block, and
    SIGKILLs any worker that outlived its master (it would hold the port answering nothing).
    """
    port = port or free_port()
    proc, log_path = start_gunicorn(project, mongo_uri, port=port, workers=workers, env=env)
    service = ServiceProcess(port=port, proc=proc, log_path=log_path)
    try:
        wait_for(
            lambda: proc.poll() is None and http("GET", f"{service.url}/health/live")[0] == 200,
            timeout=60,
            what=f"gunicorn ({log_path})",
        )
        yield service
    finally:
        workers_seen = process_tree(proc.pid) - {proc.pid}
        stop(proc)
        for pid in workers_seen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def start_gunicorn(
    project: Path,
    mongo_uri: str,
    *,
    port: int,
    workers: int = 2,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start gunicorn with `project`'s own gunicorn.conf.py on 127.0.0.1:`port`; do not wait.

    Returns the master process and the path of its log (stdout and stderr).
    """
    log_path = project / f"gunicorn-{port}.log"
    metrics_dir = project / f".metrics-{port}"
    full_env = {
        **os.environ,
        "WEB_CONCURRENCY": str(workers),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        f"{ENV_PREFIX}MONGO_URI": mongo_uri,
        f"{ENV_PREFIX}MONGO_DATABASE": f"test_{port}",
        f"{ENV_PREFIX}ENVIRONMENT": "production",
        **(env or {}),
    }
    # As `make run` and the compose stack do: migrations first, else /health/ready stays
    # 503. Tests of a database that is down, late or refusing go on without them (their
    # output is in migrate-PORT.log); `migrate()` applies them later.
    with (project / f"migrate-{port}.log").open("wb") as migrate_log:
        subprocess.run(
            [*migrate_command(project), "--wait", "1"],
            cwd=project,
            env=full_env,
            stdout=migrate_log,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                str(project / ".venv" / "bin" / "gunicorn"),
                "--config",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=project,
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return proc, log_path


def migrate_command(project: Path) -> list[str]:
    """Return the command applying `project`'s migrations (what `make migrate` runs)."""
    return [
        str(project / ".venv" / "bin" / "python"),
        "-m",
        f"{PACKAGE}.core.migrations",
        "upgrade",
    ]


def migrate(project: Path, mongo_uri: str, database: str) -> None:
    """Apply `project`'s migrations to `database` on `mongo_uri`; raise if that fails."""
    env = {
        **os.environ,
        f"{ENV_PREFIX}MONGO_URI": mongo_uri,
        f"{ENV_PREFIX}MONGO_DATABASE": database,
    }
    run(migrate_command(project), cwd=project, env=env, timeout=120)


def process_tree(pid: int) -> set[int]:
    """Return `pid` and every live descendant of it (Linux /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        # A process may exit while it is read: its /proc entries vanish (OSError).
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError):
                    todo.extend(int(child) for child in (task / "children").read_text().split())
    return found


def alive(pids: set[int]) -> set[int]:
    """Return the pids in `pids` that are still running (zombies count as gone)."""
    running: set[int] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                running.add(pid)
    return running


def port_free(port: int) -> bool:
    """Return True when a new listener could bind 127.0.0.1:`port`."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def http(
    method: str,
    url: str,
    body: object = None,
    headers: dict[str, str] | None = None,
    *,
    timeout: float = 10,
) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP request; return (status, lower-cased headers, raw body).

    `body` is sent as JSON unless it is bytes. Error statuses are returned, not raised.
    """
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json"} if data is not None else {}
    all_headers.update(headers or {})
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _lower(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers.items()), error.read()


def log_events(text: str) -> list[dict[str, object]]:
    """Parse a service's stdout: one dict per JSON log line, other lines skipped.

    Tests read log lines as JSON rather than matching text, so they hold whatever
    separators the renderer writes.
    """
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _lower(items) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {key.lower(): value for key, value in items}
