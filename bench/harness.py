"""Measure the generated services (G) against bare baseline apps (B) on one database.

Steps, all on loopback, every process stopped by pid:
1. Bake each variant (its own package name), install all of them, the bare apps'
   dependencies and matplotlib into one virtualenv (uv, shared wheel cache).
2. Start one SecantusDB process and seed it once with fixed documents.
3. Instructions per request: each app (gunicorn, one worker) under callgrind with
   instrumentation off; warm up, then per endpoint zero, switch on, send N
   sequential requests, dump, switch off (`callgrind_control`).
4. Database operations per request: `serverStatus` opcounters around N requests.
5. Load: G and B of a variant at once on two ports, 2 workers each, both pinned to
   CPU 0; wrk and the database on CPU 1; interleaved A/B/B/A trials per endpoint
   and concurrency; a trial disturbed by foreign CPU load is re-run.
6. Results as JSON, a markdown table and a PNG chart (`report`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.auth_support import access
from tests.locks import locked_requirements
from tests.support import (
    TEMPLATE_ROOT,
    VARIANTS,
    MongoServer,
    bake,
    free_port,
    http,
    mongo_server,
    run,
    stop,
    uv_env,
)

BENCH_DIR = TEMPLATE_ROOT / "bench"
# Bakes, venv, logs and callgrind dumps; BENCH_WORK_DIR gives a concurrent run its own.
WORK_DIR = Path(os.environ.get("BENCH_WORK_DIR", TEMPLATE_ROOT / "build" / "bench"))
VENV = WORK_DIR / "venv"
DATABASE = "bench"
SEED_ITEMS = 200
SERVER_CPU, LOAD_CPU = "0", "1"

# Endpoint name -> (method, path template, body kind). `{id}` is a seeded item.
ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "GET /health/live": ("GET", "/health/live", "none"),
    "GET /api/v1/items/{id}": ("GET", "/api/v1/items/{id}", "none"),
    "GET /api/v1/items": ("GET", "/api/v1/items", "none"),
    "POST /api/v1/items": ("POST", "/api/v1/items", "post"),
    "PATCH /api/v1/items/{id}": ("PATCH", "/api/v1/items/{id}", "patch"),
}
# Instruction targets (issue 6): G/B per endpoint.
TARGETS = {name: (1.3 if name == "GET /health/live" else 1.15) for name in ENDPOINTS}
# Access modes `--auth` can measure, and what one may add to a route (issue 13): the
# share of G's instructions that G baked with the mode adds, a valid credential sent.
AUTH_MODES = ("none", "api_key", "jwt")
AUTH_TARGETS = {"GET /api/v1/items/{id}": 0.10}
# The indexes the generated service creates for its items (`ITEMS.indexes`), so G and B
# query alike.
INDEXES: list[tuple[list[tuple[str, int]], dict[str, Any]]] = [
    ([("name", 1)], {"unique": True, "name": "name_unique"}),
    ([("created_at", 1), ("_id", 1)], {"name": "created_at_id"}),
    ([("tags", 1), ("created_at", 1), ("_id", 1)], {"name": "tags_created_at_id"}),
    ([("tags", 1), ("name", 1)], {"name": "tags_name"}),
]
OPCOUNTERS = ("query", "insert", "update", "delete", "getmore", "command")
# `--tracing` (issue 24): G baked with `tracing=opentelemetry`, as three roles: no OTLP
# endpoint set (tracing off), and exporting to a local receiver with every new trace
# sampled, or one in ten. The batch processor exports every second (default 5 s), so a
# measurement of 100 requests holds many exports and its edges cut off little of one.
TRACING_ROLES: dict[str, dict[str, str]] = {
    "G@tracing-off": {},
    "G@tracing-100": {"OTEL_TRACES_SAMPLER": "parentbased_always_on"},
    "G@tracing-10": {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    },
}
TRACED = "tracing"  # the key suffix and package suffix of a variant's traced bake
# The roles of a variant: the generated service, the bare app with the driver's defaults,
# and the bare app with the generated service's driver options (the gate compares G with
# B-durable: both pay for the same durability, so the ratio is what our code costs).
ROLES = ("G", "B", "B-durable")
# The generated service's driver options (Settings.mongo_client_options, at their
# defaults) as URI options, for B-durable: bounded calls, journaled majority writes.
DURABLE_URI_OPTIONS = "timeoutMS=5000&serverSelectionTimeoutMS=2000&w=majority&journal=true"


@dataclass
class Plan:
    """How much to measure; `smoke()` is the CI size."""

    variants: list[str]
    callgrind_warmup: int = 30
    callgrind_requests: int = 100
    dbops_requests: int = 50
    wrk_seconds: int = 3
    wrk_pairs: int = 3
    wrk_concurrency: tuple[int, ...] = (16, 64)
    # Writes at one lower concurrency: SecantusDB serialises them, so at 64 connections a
    # write's latency passes the 3 s trial (seen: trials with no answer at all, and at 16
    # a request timing out), and the trial measures the database's queue, not the app.
    wrk_write_concurrency: tuple[int, ...] = (8,)
    # Not GET /api/v1/items: a page of 20 plus the total count costs SecantusDB (a Python
    # server) tens of ms, so under load that route measures the database, and its queue
    # starves the other routes' trials. Its instructions and DB ops are still measured.
    # PATCH before POST: SecantusDB's findAndModify slows down as POSTs grow the collection
    # (seen: no answer within a 3 s trial after ~15k inserts).
    wrk_endpoints: tuple[str, ...] = (
        "GET /health/live",
        "GET /api/v1/items/{id}",
        "PATCH /api/v1/items/{id}",
        "POST /api/v1/items",
    )
    smoke: bool = False
    # The endpoints the instruction step measures (`--endpoints`).
    endpoints: tuple[str, ...] = tuple(ENDPOINTS)
    # The roles the instruction step measures (the smoke run leaves B-durable to the
    # load step: one more app under callgrind would add a minute).
    instruction_roles: tuple[str, ...] = ROLES
    # Cold starts per app besides the load step's, to the first 200 from /health/ready
    # (the median of all is reported).
    startup_runs: int = 2
    # `--auth`: besides G (auth=none), measure G baked with this access mode (role
    # `G+<mode>`, instructions only), its requests carrying a valid credential.
    auth: str = "none"
    # `--tracing`: besides G, measure G baked with tracing=opentelemetry (TRACING_ROLES,
    # instructions only).
    tracing: bool = False

    def concurrency_of(self, endpoint: str) -> tuple[int, ...]:
        """Return the wrk connection counts `endpoint` is loaded with."""
        reads = endpoint.startswith("GET ")
        return self.wrk_concurrency if reads else self.wrk_write_concurrency

    @classmethod
    def smoke_plan(cls, variants: list[str]) -> Plan:
        """Return a few requests of everything: proves the harness works, gates nothing slow."""
        return cls(
            variants=variants,
            callgrind_warmup=3,
            callgrind_requests=5,
            dbops_requests=5,
            wrk_seconds=1,
            wrk_pairs=1,
            wrk_concurrency=(4,),
            wrk_write_concurrency=(4,),
            wrk_endpoints=("GET /health/live", "POST /api/v1/items"),
            instruction_roles=("G", "B"),
            startup_runs=0,
            smoke=True,
        )


@dataclass
class App:
    """One server to measure: a generated service (G) or a bare app (B) of a variant."""

    variant: str
    role: str  # one of ROLES (or G+<auth mode>, G-<ablation>, G@tracing-...)
    argv: list[str]
    cwd: Path
    env: dict[str, str]

    @property
    def name(self) -> str:
        """Return e.g. `fastapi-pymongo/G`."""
        return f"{self.variant}/{self.role}"


@dataclass
class Running:
    """A started app: its master process, base URL and how long it took to be ready."""

    app: App
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    ready_seconds: float = 0.0

    @property
    def url(self) -> str:
        """Base URL without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """Return the pids of the gunicorn workers (children of the master)."""
        return _children(self.proc.pid)


@dataclass
class Results:
    """Everything measured, serialised as the JSON results file."""

    meta: dict[str, Any]
    instructions: dict[str, dict[str, float]] = field(default_factory=dict)
    dbops: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    load: list[dict[str, Any]] = field(default_factory=list)
    # App name -> {"ready_s": median start-up time, "rss_mb": resident MB per worker,
    # "ready_runs": the start-up times measured}.
    footprint: dict[str, dict[str, Any]] = field(default_factory=dict)


def available_variants() -> list[str]:
    """Return the variants whose framework overlay exists in the template right now."""
    overlays = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}" / "_overlays"
    return [
        name
        for name, context in VARIANTS.items()
        if (
            overlays / context["framework"] / "src" / "{{cookiecutter.package_name}}" / "app.py"
        ).is_file()
    ]


def package_of(variant: str, auth: str = "none") -> str:
    """Return the import name the benchmark bakes `variant` under (one venv holds all)."""
    return "bench_" + variant.replace("-", "_") + ("" if auth == "none" else f"_{auth}")


def bake_name(variant: str, auth: str = "none") -> str:
    """Return the key of `variant`'s bake with access mode `auth` in `prepare`'s answer."""
    return variant if auth == "none" else f"{variant}+{auth}"


def prepare(variants: list[str], auth: str = "none", *, tracing: bool = False) -> dict[str, Path]:
    """Bake every variant and install them with the bare apps' needs into one venv.

    With an `auth` mode other than none, each variant is baked a second time with it
    (key `bake_name(variant, auth)`, package `package_of(variant, auth)`); with
    `tracing`, once more with `tracing=opentelemetry` (key `bake_name(variant, TRACED)`).
    """
    projects_dir = WORK_DIR / "projects"
    shutil.rmtree(projects_dir, ignore_errors=True)
    projects_dir.mkdir(parents=True)
    projects = {}
    for variant in variants:
        bakes = {mode: {"auth": mode} for mode in dict.fromkeys(("none", auth))}
        if tracing:
            bakes[TRACED] = {"tracing": "opentelemetry"}
        for suffix, answers in bakes.items():
            title = " ".join(["Bench", *package_of(variant, suffix).split("_")[1:]]).title()
            projects[bake_name(variant, suffix)] = bake(
                projects_dir, project_name=title, **answers, **VARIANTS[variant]
            )
    uv = str(Path(sys.executable).parent / "uv")
    if not (VENV / "bin" / "python").exists():
        run(
            [uv, "venv", "--quiet", "--python", sys.executable, str(VENV)],
            cwd=WORK_DIR,
            env=uv_env(),
        )
    # Every variant's dependencies plus flask and fastapi for the bare apps: one resolution,
    # so G and B of every variant run the very same library versions, those the variants'
    # locks pin (what a generated service runs), as constraints.
    editable = [arg for path in projects.values() for arg in ("-e", str(path))]
    # A traced bake's locks win where they differ: the OpenTelemetry SDK pins the API
    # (`opentelemetry-api`, which FastAPI requires too) a patch below FastAPI's own lock.
    constraints = WORK_DIR / "constraints.txt"
    by_name: dict[str, set[str]] = {}
    for key, path in projects.items():
        if not key.endswith(f"+{TRACED}"):
            for name, version, marker in locked_requirements(path, dev=False):
                by_name.setdefault(name, set()).add(_pin(name, version, marker))
    for key, path in projects.items():
        if key.endswith(f"+{TRACED}"):
            traced: dict[str, set[str]] = {}
            for name, version, marker in locked_requirements(path, dev=False):
                traced.setdefault(name, set()).add(_pin(name, version, marker))
            by_name.update(traced)
    pins = set().union(*by_name.values())
    constraints.write_text("".join(f"{pin}\n" for pin in sorted(pins)))
    run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(VENV / "bin" / "python"),
            "--constraint",
            str(constraints),
            *editable,
            "fastapi",
            "uvicorn[standard]",
            "uvicorn-worker",
            "flask",
            "gevent",
            "gunicorn",
            "pymongo",
            "matplotlib",
        ],
        cwd=WORK_DIR,
        env=uv_env(),
    )
    return projects


def _pin(name: str, version: str, marker: str) -> str:
    """Return a constraint line pinning `name` to `version` where `marker` holds."""
    return f"{name}=={version}" + (f" ; {marker}" if marker else "")


def seed(mongo_uri: str) -> str:
    """Insert SEED_ITEMS fixed items and the service's indexes; return the first item's id."""
    from bson import ObjectId
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        items = client[DATABASE]["items"]
        items.drop()
        client[DATABASE]["migrations"].drop()  # `migrate` applies them again, to this drop
        for keys, options in INDEXES:
            items.create_index(keys, **options)
        base = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
        docs = []
        for i in range(SEED_ITEMS):
            created = datetime.fromtimestamp(base + i, UTC)
            docs.append(
                {
                    "_id": ObjectId(f"{i + 1:024x}"),
                    "name": f"seed-{i:04d}",
                    "description": f"Seeded item number {i}, for the benchmark.",
                    "tags": ["seed", f"t{i % 5}"],
                    "created_at": created,
                    "updated_at": created,
                    "version": 1,
                }
            )
        items.insert_many(docs)
        return str(docs[0]["_id"])
    finally:
        client.close()


def migrate(package: str, mongo_uri: str) -> None:
    """Apply the generated service's migrations to DATABASE, as `make migrate` does.

    After `seed`: they add the validator to the seeded collection and find its indexes
    there (the same `INDEXES`); without them `/health/ready` would stay 503.
    """
    prefix = package.upper() + "_"
    env = {**os.environ, f"{prefix}MONGO_URI": mongo_uri, f"{prefix}MONGO_DATABASE": DATABASE}
    run(
        [str(VENV / "bin" / "python"), "-m", f"{package}.core.migrations", "upgrade"],
        cwd=WORK_DIR,
        env=env,
    )


def under_callgrind(app: App, out_dir: Path) -> tuple[list[str], App]:
    """Return the valgrind command prefix (output to `out_dir`, counting off) and `app` as
    one process: gunicorn's own worker class and settings, no master (see one_worker.py)."""
    wrap = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out_dir}/callgrind.out.%p",
    ]
    one_worker = dataclasses.replace(
        app,
        argv=[str(VENV / "bin" / "python"), str(BENCH_DIR / "one_worker.py"), *app.argv[1:]],
        env={**app.env, "WEB_CONCURRENCY": "1"},
    )
    return wrap, one_worker


def apps_for(
    variant: str,
    project: Path,
    mongo_uri: str,
    *,
    workers: int,
    timeout: int,
    package: str | None = None,
) -> list[App]:
    """Return the apps of `variant` in ROLES order (G, B, B-durable), same server settings.

    All get the same URI, B-durable with the generated service's driver options added
    (`DURABLE_URI_OPTIONS`). Its long heartbeat interval keeps the driver's server
    monitors (which run in the worker's event loop) out of the instruction counts:
    a `hello` every 10 s would add noise of several percent to a short measurement.
    `package` is the generated service's import name (default `package_of(variant)`).
    """
    mongo_uri = f"{mongo_uri}&heartbeatFrequencyMS=600000"
    framework = VARIANTS[variant]["framework"]
    prefix = (package or package_of(variant)).upper() + "_"
    common = {
        **os.environ,
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_WORKER_CONNECTIONS": "1000",
        "GUNICORN_TIMEOUT": str(timeout),
        # No worker recycling while measuring: a recycled worker drops its keep-alive
        # connections mid-trial (wrk read errors) and re-imports the app.
        "GUNICORN_MAX_REQUESTS": "0",
    }
    gunicorn = str(VENV / "bin" / "gunicorn")
    generated = App(
        variant=variant,
        role="G",
        argv=[gunicorn, "--config", "gunicorn.conf.py"],
        cwd=project,
        env={
            **common,
            f"{prefix}MONGO_URI": mongo_uri,
            f"{prefix}MONGO_DATABASE": DATABASE,
            f"{prefix}ENVIRONMENT": "production",
            f"{prefix}LOG_LEVEL": "INFO",
        },
    )
    bare = App(
        variant=variant,
        role="B",
        argv=[
            gunicorn,
            "--config",
            str(BENCH_DIR / "gunicorn_bare.conf.py"),
            "--pythonpath",
            str(BENCH_DIR),
        ],
        cwd=WORK_DIR,
        env={
            **common,
            "BARE_MONGO_URI": mongo_uri,
            "BARE_MONGO_DATABASE": DATABASE,
            "BARE_APP": "bare_fastapi:app" if framework == "fastapi" else "bare_flask:app",
            "BARE_WORKER_CLASS": "uvicorn_worker.UvicornWorker"
            if framework == "fastapi"
            else "gevent",
            # The generated service's async driver: Motor's calls cost less than
            # AsyncMongoClient's here, so a Motor G needs a Motor B.
            "BARE_DRIVER": VARIANTS[variant]["async_driver"],
        },
    )
    durable = dataclasses.replace(
        bare,
        role="B-durable",
        env={**bare.env, "BARE_MONGO_URI": f"{mongo_uri}&{DURABLE_URI_OPTIONS}"},
    )
    return [generated, bare, durable]


@contextlib.contextmanager
def serve(
    app: App,
    *,
    wrap: list[str] | None = None,
    ready_timeout: float = 60,
    probe: str = "/health/ready",
) -> Iterator[Running]:
    """Start `app` (optionally under `wrap`, e.g. valgrind or taskset); stop it afterwards.

    It is started once `probe` answers 200; `Running.ready_seconds` says how long that took.
    """
    port = free_port()
    logs = WORK_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{app.name.replace('/', '-')}-{port}.log"
    metrics_dir = WORK_DIR / "metrics" / str(port)
    env = {**app.env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [*(wrap or []), *app.argv, "--bind", f"127.0.0.1:{port}"],
            cwd=app.cwd,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    started = time.monotonic()
    running = Running(app=app, proc=proc, port=port, log_path=log_path)
    try:
        # Polled every 10 ms (not wait_for's 50): the time to the first ready answer is
        # one of the results.
        deadline = started + ready_timeout
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if http("GET", f"{running.url}{probe}", timeout=5)[0] == 200:
                    break
            time.sleep(0.01)
        else:
            raise TimeoutError(f"{app.name} not ready after {ready_timeout} s (log: {log_path})")
        running.ready_seconds = time.monotonic() - started
        yield running
    finally:
        stop(proc, timeout=60)
        shutil.rmtree(metrics_dir, ignore_errors=True)


class Client:
    """Sends the benchmark's requests one at a time and insists on 2xx."""

    def __init__(
        self, base_url: str, item_id: str, tag: str, headers: dict[str, str] | None = None
    ) -> None:
        """Target `base_url`; GET/PATCH address `item_id`; POST names start with `tag`.

        `headers` go with every request (a credential, for a service with an access mode).
        """
        self.base_url = base_url
        self.item_id = item_id
        self.tag = tag
        self.headers = headers or {}
        self.count = 0

    def send(self, endpoint: str) -> None:
        """Send one request to `endpoint`; raise AssertionError unless it is 2xx."""
        method, path, kind = ENDPOINTS[endpoint]
        self.count += 1
        body: object = None
        if kind == "post":
            body = {
                "name": f"{self.tag}-{self.count}",
                "description": "made by the harness",
                "tags": ["bench", "seq"],
            }
        elif kind == "patch":
            body = {"description": f"patched {self.count}"}
        status, _, payload = http(
            method,
            self.base_url + path.replace("{id}", self.item_id),
            body,
            self.headers,
            timeout=60,
        )
        if not 200 <= status < 300:
            raise AssertionError(f"{endpoint} -> {status}: {payload[:300]!r}")


def _children(pid: int) -> list[int]:
    """Return the child pids of `pid` (Linux /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _callgrind_control(*args: str) -> None:
    """Run callgrind_control; it exits 0 even when it finds no such process, so read it."""
    done = run(["callgrind_control", *args], cwd=WORK_DIR, timeout=120)
    if "Error" in done.stdout + done.stderr:
        raise AssertionError(f"callgrind_control {' '.join(args)}: {done.stdout}{done.stderr}")


def measure_instructions(
    app: App,
    item_id: str,
    plan: Plan,
    endpoints: list[str] | None = None,
    headers: dict[str, str] | None = None,
    settle: float = 0,
) -> dict[str, float]:
    """Return Ir per request per endpoint for `app` (one gunicorn worker under callgrind).

    `headers` go with every request (a credential). The warm-up requests also fill the
    caches the first authenticated request fills (a jwt service fetches the JWKS then).
    `settle` seconds pass before counting starts and again before the dump: work an app
    does in the background after a request (a tracing batch processor exporting its
    spans) then falls in the window of the endpoint that caused it, all of it.
    """
    endpoints = endpoints or list(plan.endpoints)
    out_dir = WORK_DIR / "callgrind" / app.name.replace("/", "-")
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    wrap, one_worker = under_callgrind(app, out_dir)
    results: dict[str, float] = {}
    # Liveness, not readiness: under callgrind a MongoDB ping can outlast the service's
    # readiness budget (1 s) on a loaded machine, and the probe would never answer 200.
    with serve(one_worker, wrap=wrap, ready_timeout=300, probe="/health/live") as running:
        worker = str(running.proc.pid)
        client = Client(running.url, item_id, f"cg-{app.variant}-{app.role}", headers)
        for endpoint in endpoints:
            for _ in range(plan.callgrind_warmup):
                client.send(endpoint)
        for endpoint in endpoints:
            before = set(out_dir.iterdir())
            time.sleep(settle)
            # Order matters: switching instrumentation off before the dump loses the counts.
            _callgrind_control("-i", "on", worker)
            _callgrind_control("-z", worker)
            for _ in range(plan.callgrind_requests):
                client.send(endpoint)
            time.sleep(settle)
            _callgrind_control("-d", worker)
            _callgrind_control("-i", "off", worker)
            dumps = sorted(set(out_dir.iterdir()) - before)
            if not dumps:
                raise AssertionError(f"callgrind wrote no dump for {app.name} {endpoint}")
            total = _total_ir(dumps[-1])
            if total == 0:
                raise AssertionError(f"callgrind counted nothing for {app.name} {endpoint}")
            results[endpoint] = total / plan.callgrind_requests
            print(
                f"  {app.name} {endpoint}: {results[endpoint] / 1000:,.0f} kIr/request", flush=True
            )
    return results


def _total_ir(dump: Path) -> int:
    """Return the total instruction count recorded in a callgrind dump."""
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise AssertionError(f"no totals in {dump}")


def measure_dbops(
    app: App, item_id: str, mongo_uri: str, plan: Plan
) -> dict[str, dict[str, float]]:
    """Return database operations per request, by opcounter, per endpoint (best of two)."""
    from pymongo import MongoClient

    one_worker = dataclasses.replace(app, env={**app.env, "WEB_CONCURRENCY": "1"})
    admin: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    results: dict[str, dict[str, float]] = {}
    try:
        with serve(one_worker) as running:
            client = Client(running.url, item_id, f"ops-{app.variant}-{app.role}")
            for endpoint in ENDPOINTS:
                client.send(endpoint)
            for endpoint in ENDPOINTS:
                best: dict[str, float] | None = None
                for _ in range(2):
                    before = admin.admin.command("serverStatus")["opcounters"]
                    for _ in range(plan.dbops_requests):
                        client.send(endpoint)
                    after = admin.admin.command("serverStatus")["opcounters"]
                    # The second serverStatus is itself one command.
                    delta = {k: after[k] - before[k] - (k == "command") for k in OPCOUNTERS}
                    per = {k: v / plan.dbops_requests for k, v in delta.items()}
                    if best is None or sum(per.values()) < sum(best.values()):
                        best = per
                assert best is not None
                best["total"] = sum(best[k] for k in OPCOUNTERS)
                results[endpoint] = best
    finally:
        admin.close()
    return results


def _cpu_ticks(pids: list[int]) -> int:
    """Return user+system clock ticks used so far by `pids` (and their threads)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total


def _cpu_line(cpu: str) -> tuple[int, int]:
    """Return (busy, steal) ticks of CPU `cpu` from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            v = [int(x) for x in line.split()[1:]]
            user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
            return user + nice + system + irq + softirq, steal
    raise AssertionError(f"cpu{cpu} not in /proc/stat")


def wrk_trial(
    by_role: dict[str, Running],
    role: str,
    endpoint: str,
    item_id: str,
    connections: int,
    seconds: float,
    tag: str,
) -> dict[str, Any]:
    """Run one wrk trial against `role`'s server; return its figures (raise on any non-2xx).

    The other servers of `by_role` share its CPU: their CPU time is not foreign load.
    """
    running = by_role[role]
    others = [server for name, server in by_role.items() if name != role]
    method, path, _ = ENDPOINTS[endpoint]
    kind = ENDPOINTS[endpoint][2]
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    pids = [running.proc.pid, *running.workers()]
    other_pids = [pid for other in others for pid in (other.proc.pid, *other.workers())]
    cpu_before, busy_before = _cpu_ticks(pids), _cpu_line(SERVER_CPU)
    other_before = _cpu_ticks(other_pids)
    done = run(
        [
            "taskset",
            "-c",
            LOAD_CPU,
            "wrk",
            "--latency",
            "-t",
            "1",
            "-c",
            str(connections),
            "-d",
            f"{int(seconds)}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH_DIR / "requests.lua"),
            running.url,
            "--",
            method,
            path.replace("{id}", item_id),
            kind,
            tag,
        ],
        cwd=WORK_DIR,
        timeout=seconds + 60,
    )
    cpu_after, busy_after = _cpu_ticks(pids), _cpu_line(SERVER_CPU)
    other_after = _cpu_ticks(other_pids)
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRKJSON "))
    figures = json.loads(line.removeprefix("WRKJSON "))
    errors = sum(figures[k] for k in ("non2xx", "connect", "read", "write", "timeout"))
    if figures["requests"] == 0:
        errors += 1  # nothing answered within the trial
    if errors:
        # Recorded, and the run exits 1 at the end (report.problems); the rest still runs.
        print(
            f"bench: {running.app.name} {endpoint} c={connections}: {errors} failed requests\n"
            f"{done.stdout}",
            flush=True,
        )
    seconds_run = figures["duration_us"] / 1e6
    server_ticks = cpu_after - cpu_before
    busy = busy_after[0] - busy_before[0]
    steal = busy_after[1] - busy_before[1]
    # Whatever kept CPU 0 busy that was not our servers (or was stolen by the hypervisor).
    foreign = max(0, busy - server_ticks - (other_after - other_before)) + steal
    return {
        "rps": figures["requests"] / seconds_run,
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "cpu_ms_per_request": server_ticks / ticks_per_s * 1000 / max(1, figures["requests"]),
        "foreign_cpu_share": foreign / ticks_per_s / seconds_run,
        "requests": figures["requests"],
        "failed": errors,
    }


def measure_load(
    variant: str, apps: list[App], item_id: str, plan: Plan
) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """Run every role at once on one CPU; interleave the roles' trials per endpoint.

    Returns one row per endpoint and concurrency, and by app name its resident memory
    per worker after the last trial (`rss_mb`) and its time to ready (`ready_s`; the
    apps start one after the other).
    """
    wrap = ["taskset", "-c", SERVER_CPU]
    rows = []
    with contextlib.ExitStack() as stack:
        by_role = {app.role: stack.enter_context(serve(app, wrap=wrap)) for app in apps}
        roles = list(by_role)
        for endpoint in plan.wrk_endpoints:
            for connections in plan.concurrency_of(endpoint):
                trials: dict[str, list[dict[str, Any]]] = {role: [] for role in roles}
                cell = (endpoint, item_id, connections)
                # Short warm-up of each, then rounds in alternating order (G,B,.. / ..,B,G).
                for role in roles:
                    wrk_trial(by_role, role, *cell, 1, f"warm-{variant}-{role}-{connections}")
                for round_ in range(plan.wrk_pairs):
                    for role in roles if round_ % 2 == 0 else roles[::-1]:
                        found = None
                        for attempt in range(3):
                            tag = f"wrk-{variant}-{role}-{connections}-{round_}-{attempt}"
                            found = wrk_trial(by_role, role, *cell, plan.wrk_seconds, tag)
                            found["attempt"] = attempt
                            if found["foreign_cpu_share"] < 0.15:
                                break
                        assert found is not None
                        trials[role].append(found)
                row: dict[str, Any] = {
                    "variant": variant,
                    "endpoint": endpoint,
                    "connections": connections,
                    **{
                        f"{role}_{key}": statistics.median(t[key] for t in trials[role])
                        for role in roles
                        for key in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request")
                    },
                    "trials": trials,
                }
                for bare in roles[1:]:
                    # Per round: G's req/s over this bare app's (a dead trial already
                    # counts as failed).
                    ratios = [
                        g["rps"] / max(b["rps"], 1e-9)
                        for g, b in zip(trials["G"], trials[bare], strict=True)
                    ]
                    row[f"rps_ratio_{bare}"] = statistics.median(ratios)
                    row[f"rps_ratio_{bare}_range"] = [min(ratios), max(ratios)]
                rows.append(row)
                print(
                    f"  load {variant} {endpoint} c={connections}: G/B req/s "
                    f"{row['rps_ratio_B']:.2f} "
                    + ", ".join(f"{role} {row[f'{role}_rps']:.0f}" for role in roles),
                    flush=True,
                )
        footprint = {
            running.app.name: {
                "rss_mb": resident_mb(running.workers()),
                "ready_s": running.ready_seconds,
            }
            for running in by_role.values()
        }
    return rows, footprint


def resident_mb(pids: list[int]) -> float:
    """Return the mean resident memory (VmRSS, MB) of the processes `pids`."""
    sizes = []
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
    return statistics.mean(sizes) if sizes else 0.0


def measure_startup(apps: list[App], plan: Plan) -> dict[str, list[float]]:
    """Return each app's times (s) from start to its first 200 on /health/ready.

    Each app starts `plan.startup_runs` times on its own (nothing else of ours runs),
    2 workers pinned to the servers' CPU, as in the load step.
    """
    times: dict[str, list[float]] = {app.name: [] for app in apps}
    for _ in range(plan.startup_runs):
        for app in apps:
            with serve(app, wrap=["taskset", "-c", SERVER_CPU]) as running:
                times[app.name].append(running.ready_seconds)
    return times


_VERSIONS_SCRIPT = """
import importlib.metadata as m, json, sys
names = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "uvicorn-worker", "gunicorn",
         "gevent", "flask", "werkzeug", "flask-openapi", "pymongo", "motor", "pydantic",
         "structlog", "prometheus-client")
found = {"python": sys.version.split()[0]}
for name in names:
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        pass
print(json.dumps(found))
"""


def machine() -> dict[str, Any]:
    """Describe the machine and the library versions measured."""
    versions = run([str(VENV / "bin" / "python"), "-c", _VERSIONS_SCRIPT], cwd=WORK_DIR).stdout
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    valgrind = run(["valgrind", "--version"], cwd=WORK_DIR).stdout.strip()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "versions": json.loads(versions),
        "valgrind": valgrind,
        "wrk": (wrk_version.stdout or wrk_version.stderr).split("\n")[0].strip(),
        "database": "SecantusDB (MongoDB wire protocol, in memory, Python), retryWrites=false",
    }


def measure_variant(
    variant: str,
    projects: dict[str, Path],
    server: MongoServer,
    plan: Plan,
    skip: set[str],
    results: Results,
) -> None:
    """Measure one variant's G and B (and G+auth) against `server` (seeded here)."""
    # The database shares CPU 1 with wrk; the servers under test own CPU 0.
    assert server.proc is not None
    subprocess.run(
        ["taskset", "-pc", LOAD_CPU, str(server.proc.pid)], capture_output=True, check=False
    )
    item_id = seed(server.uri)
    migrate(package_of(variant), server.uri)
    project = projects[variant]
    apps = apps_for(variant, project, server.uri, workers=2, timeout=600)
    if "instructions" not in skip:
        for app in apps:
            if app.role not in plan.instruction_roles:
                continue
            print(f"bench: instructions {app.name}", flush=True)
            results.instructions[app.name] = measure_instructions(app, item_id, plan)
        if plan.auth != "none":
            measure_auth(
                variant, projects[bake_name(variant, plan.auth)], server, item_id, plan, results
            )
        if plan.tracing:
            measure_tracing(
                variant, projects[bake_name(variant, TRACED)], server, item_id, plan, results
            )
    if "dbops" not in skip:
        # B-durable sends the same operations as B, only with other options.
        for app in apps[:2]:
            print(f"bench: db ops {app.name}", flush=True)
            results.dbops[app.name] = measure_dbops(app, item_id, server.uri, plan)
    if "load" not in skip:
        print(f"bench: load {variant}", flush=True)
        load_apps = apps_for(variant, project, server.uri, workers=2, timeout=30)
        rows, footprint = measure_load(variant, load_apps, item_id, plan)
        results.load.extend(rows)
        for name, found in footprint.items():
            results.footprint[name] = {"rss_mb": found["rss_mb"], "ready_runs": [found["ready_s"]]}
    if "startup" not in skip and plan.startup_runs:
        print(f"bench: start-up {variant}", flush=True)
        startup_apps = apps_for(variant, project, server.uri, workers=2, timeout=30)
        for name, times in measure_startup(startup_apps, plan).items():
            results.footprint.setdefault(name, {}).setdefault("ready_runs", []).extend(times)
    for name, found in results.footprint.items():
        if name.startswith(f"{variant}/") and found.get("ready_runs"):
            found["ready_s"] = statistics.median(found["ready_runs"])


def measure_auth(
    variant: str, project: Path, server: MongoServer, item_id: str, plan: Plan, results: Results
) -> None:
    """Measure `variant` baked with `plan.auth` (role `G+<mode>`), a valid credential sent.

    A jwt service gets a test issuer (the bake's `tests.issuer`: keys made before the
    service starts, JWKS over loopback HTTP) and a token holding the items scopes; the
    warm-up fetches and caches the JWKS before anything is counted.
    """
    package = package_of(variant, plan.auth)
    with access(
        project,
        plan.auth,
        ["items:read", "items:write"],
        prefix=package.upper() + "_",
        python=VENV / "bin" / "python",
    ) as (env, headers):
        app = apps_for(variant, project, server.uri, workers=2, timeout=600, package=package)[0]
        app = dataclasses.replace(app, role=f"G+{plan.auth}", env={**app.env, **env})
        print(f"bench: instructions {app.name}", flush=True)
        results.instructions[app.name] = measure_instructions(app, item_id, plan, headers=headers)


@contextlib.contextmanager
def trace_sink() -> Iterator[str]:
    """Run an OTLP/HTTP receiver on loopback that accepts every export; yield its endpoint.

    It answers 200 with an empty body (an empty `ExportTraceServiceResponse`) and keeps
    nothing: the exporting worker does all its work, the sink none that is counted.
    """
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def measure_tracing(
    variant: str, project: Path, server: MongoServer, item_id: str, plan: Plan, results: Results
) -> None:
    """Measure `variant` baked with tracing=opentelemetry in each of TRACING_ROLES.

    Requests carry no `traceparent`: each starts a trace, which the sampler keeps or not.
    """
    package = package_of(variant, TRACED)
    base = apps_for(variant, project, server.uri, workers=2, timeout=600, package=package)[0]
    with trace_sink() as endpoint:
        for role, variables in TRACING_ROLES.items():
            env = {key: value for key, value in base.env.items() if not key.startswith("OTEL_")}
            if variables:
                env.update(
                    variables,
                    OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                    OTEL_BSP_SCHEDULE_DELAY="1000",
                )
            app = dataclasses.replace(base, role=role, env=env)
            print(f"bench: instructions {app.name}", flush=True)
            # Exporting, two export periods: the spans of the warm-up (or of the endpoint
            # before) leave before counting starts, the endpoint's last ones before the
            # dump. The idle event loop's ticks in those 5 s count too (about 1% of a
            # FastAPI request: seen as tracing-off/G 1.01-1.02 when it settled as well).
            settle = 2.5 if variables else 0
            results.instructions[app.name] = measure_instructions(app, item_id, plan, settle=settle)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status (1 on failed requests or extra DB ops)."""
    import argparse

    from bench import report

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few requests of each step (CI)")
    parser.add_argument("--variants", help="comma-separated (default: every available one)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results", help="results folder")
    parser.add_argument("--skip", default="", help="steps to skip: instructions,dbops,load,startup")
    parser.add_argument(
        "--gate", action="store_true", help="exit 1 when an instruction target is missed"
    )
    parser.add_argument(
        "--callgrind-requests",
        type=int,
        help="requests per endpoint under callgrind (default 100; Flask is slow there)",
    )
    parser.add_argument(
        "--auth",
        choices=AUTH_MODES,
        default="none",
        help="also measure each variant baked with this access mode (instructions only)",
    )
    parser.add_argument(
        "--roles",
        help=f"comma-separated roles of the instruction step (default: {','.join(ROLES)})",
    )
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="also measure each variant baked with tracing=opentelemetry (instructions only)",
    )
    parser.add_argument(
        "--endpoints", help="comma-separated endpoints of the instruction step (default: all)"
    )
    args = parser.parse_args(argv)
    # On SIGTERM unwind normally, so every server started so far is stopped by pid.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    variants = args.variants.split(",") if args.variants else available_variants()
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {sorted(unknown)}")
    plan = Plan.smoke_plan(variants) if args.smoke else Plan(variants=variants)
    if args.callgrind_requests:
        plan = dataclasses.replace(plan, callgrind_requests=args.callgrind_requests)
    plan = dataclasses.replace(plan, auth=args.auth, tracing=args.tracing)
    if args.roles:
        roles = tuple(args.roles.split(","))
        if wrong := set(roles) - set(ROLES):
            parser.error(f"unknown roles: {sorted(wrong)}")
        plan = dataclasses.replace(plan, instruction_roles=roles)
    if args.endpoints:
        endpoints = tuple(args.endpoints.split(","))
        if wrong := set(endpoints) - set(ENDPOINTS):
            parser.error(f"unknown endpoints: {sorted(wrong)}")
        plan = dataclasses.replace(plan, endpoints=endpoints)
    skip = set(filter(None, args.skip.split(",")))
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    print(f"bench: preparing {', '.join(variants)}", flush=True)
    projects = prepare(variants, plan.auth, tracing=plan.tracing)
    results = Results(
        meta={
            **machine(),
            "plan": dataclasses.asdict(plan),
            "targets": TARGETS,
            "auth_targets": AUTH_TARGETS,
        }
    )
    for variant in variants:
        # A fresh database per variant: the load step's inserts grow the collection, and
        # SecantusDB (a Python server) slows down until a later variant's requests time out.
        with mongo_server() as server:
            measure_variant(variant, projects, server, plan, skip, results)
    args.out.mkdir(parents=True, exist_ok=True)
    data = dataclasses.asdict(results)
    (args.out / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    table = report.markdown(data)
    (args.out / "results.md").write_text(table)
    report.chart(data, args.out / "results.png", python=str(VENV / "bin" / "python"))
    print(table)
    problems = report.problems(data, gate_instructions=args.gate)
    for line in problems:
        print("bench: FAIL", line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
