"""gunicorn configuration (read by `gunicorn -c gunicorn.conf.py`).

How the server runs comes from `ServerSettings` below: variables without the service's
prefix, read from the environment or `.env` (the environment wins), as the service's
own settings are. A bad value stops start-up with one line naming it.

Before any worker forks, the master checks every setting a worker reads, the service's
and the access mode's, by running `python -m {{ cookiecutter.package_name }}.core.preflight`:
a missing or bad one stops start-up with that one line (exit status 1) instead of a
traceback in every worker. The check runs in a child process so that the master never
imports pymongo or PyJWT: both keep a direct reference to `ssl.SSLContext` from their
import, and a worker is a fork of the master, so under gevent (Flask) they would keep
the unpatched class: TLS connections to MongoDB would wait without yielding to the
worker's other greenlets (gevent's MonkeyPatchWarning names such modules in each
worker). So nothing imported here, nor the worker class, may import them.
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from {{ cookiecutter.package_name }}.core.logs import logging_config


class ServerSettings(BaseSettings):
    """How gunicorn serves: environment variables (or `.env` lines) named as the fields."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bind_host: str = Field("127.0.0.1", min_length=1)
    """Address to listen on: loopback by default; the Docker image sets 0.0.0.0."""

    port: int = Field(8000, ge=1, le=65535)
    """TCP port to listen on."""

    web_concurrency: int = Field(2, ge=1)
    """Worker processes."""

    gunicorn_worker_connections: int = Field(1000, ge=1)
    """Flask: connections one gevent worker serves at once (uvicorn workers ignore it)."""

    gunicorn_timeout: int = Field(30, ge=0)
    """Seconds a worker may stay silent before the master kills and replaces it."""

    gunicorn_graceful_timeout: int = Field(30, ge=0)
    """Seconds SIGTERM (graceful) and SIGINT leave the workers to finish."""

    gunicorn_max_requests: int = Field(10_000, ge=0)
    """Requests a worker serves before it is recycled; 0: never."""

    gunicorn_max_requests_jitter: int = Field(1000, ge=0)
    """Random extra requests per worker, so they are not all recycled at once."""


def load_server_settings() -> ServerSettings:
    """Read `ServerSettings`; exit with one line naming the variable when one is bad."""
    try:
        return ServerSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        sys.exit(f"invalid setting {str(first['loc'][0]).upper()}: {first['msg']}")


def preflight() -> dict[str, str]:
    """Check the service's settings in a child process; return its logging choice.

    Exits with the child's one line (status 1) when a setting is missing or bad.
    """
    done = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}.core.preflight"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(done.stderr.strip() or f"preflight exited {done.returncode}")
    result: dict[str, str] = json.loads(done.stdout)
    return result


_server = load_server_settings()
_logging = preflight()

wsgi_app = "{{ cookiecutter.package_name }}.app:create_app()"
worker_class = "{{ cookiecutter.__worker_class }}"
# gevent workers patch the standard library after `post_fork`; what must see the
# patched modules (tracing's exporter and batch thread) is set up in `post_worker_init`.
_PATCHED_WORKER = worker_class.endswith("GeventWorker")
workers = _server.web_concurrency
# Flask runs on gevent workers: every connection is a greenlet, so clients that stall
# mid-request (slowloris, a body that never comes) wait without holding a thread that
# health probes need (2 workers x 4 gthread threads were starved by 8 such clients).
# uvicorn workers ignore this setting.
worker_connections = _server.gunicorn_worker_connections
bind = [f"{_server.bind_host}:{_server.port}"]
timeout = _server.gunicorn_timeout
graceful_timeout = _server.gunicorn_graceful_timeout
keepalive = 5
# Bounds on the request head, the same in both variants (docs/operations.md): gunicorn's
# parser applies them under Flask's gevent workers, `workers.UvicornWorker` under
# uvicorn (which has none of its own). A request line over 8190 bytes is a 414
# (gunicorn's maximum, as common proxies allow: long query strings get the app's 422
# instead); more than 100 header fields, or one over 8190 bytes, is a 431.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# Recycle workers now and then to contain leaks; jitter avoids all restarting at once.
max_requests = _server.gunicorn_max_requests
max_requests_jitter = _server.gunicorn_max_requests_jitter
# No client at import time: each worker creates its own MongoDB client (not fork-safe).
preload_app = False
# gunicorn >= 25.1 opens a control socket under $HOME; containers have no use for it.
control_socket_disable = True
accesslog = None  # the app logs one access event per request itself
logconfig_dict = logging_config(_logging["log_level"], _logging["log_format"])


def on_starting(server: Any) -> None:
    """Empty the Prometheus multiprocess directory: stale files would skew counts."""
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        Path(metrics_dir).mkdir(parents=True, exist_ok=True)


def post_fork(server: Any, worker: Any) -> None:
    """Let SIGINT, SIGQUIT or SIGTERM stop a worker that is still booting; set tracing up
    in uvicorn workers (see `start_tracing`).

    A forked worker inherits the master's handlers, which only queue the signal for the
    master's loop, until it installs its own; gevent workers patch the standard library
    first, so a signal in that window was lost and the worker lived on until the
    master's SIGKILL at the graceful timeout. The default action ends it at once (it
    serves nothing yet).
    """
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    if not _PATCHED_WORKER:
        start_tracing()


def post_worker_init(worker: Any) -> None:
    """Set tracing up in gevent workers (see `start_tracing`); make uvicorn workers honour
    gunicorn's shutdown signals (other workers already do).

    uvicorn-worker routes SIGQUIT (the master's quick shutdown, sent on SIGINT) to
    `handle_exit`, which only sets a flag uvicorn never reads (uvicorn-worker issue #2):
    route it to `handle_quit`, gunicorn's quick exit. And uvicorn waits for open
    connections without limit on SIGTERM; bound that wait by the graceful timeout
    (less a second for the lifespan shutdown), so a worker whose master is gone still
    exits.
    """
    if _PATCHED_WORKER:
        start_tracing()
    config = getattr(worker, "config", None)  # uvicorn's Config, on uvicorn workers only
    if config is not None:
        worker.handle_exit = worker.handle_quit
        config.timeout_graceful_shutdown = max(1, worker.cfg.graceful_timeout - 1)


def start_tracing() -> None:
    """Start this worker's tracing (`core.tracing.start`): once, after the fork.

    A fork of a process with an exporter would share its connections and lose its batch
    thread; under gevent the exporter must also come after the patching. Imported here,
    in the worker: the master never imports it (see the module's docstring).
    """
    from {{ cookiecutter.package_name }}.core import tracing

    tracing.start()


def worker_exit(server: Any, worker: Any) -> None:
    """Export the worker's finished spans still queued before it exits (graceful exit only:
    `worker_int` ends a quick shutdown at once).

    A uvicorn worker never gets here: it ends by re-raising SIGTERM once the app's
    lifespan has shut down, and the FastAPI app flushes its spans there (`app.lifespan`).
    gunicorn also calls this in the master, for a worker found gone: nothing to do there.
    """
    if worker.pid != os.getpid():
        return
    from {{ cookiecutter.package_name }}.core import tracing

    tracing.stop()


def worker_int(worker: Any) -> None:
    """Exit a worker at once on SIGINT or SIGQUIT (quick shutdown, Ctrl-C).

    gunicorn's own exit path would run atexit hooks and join threads, which a request
    still in flight (a stalled client, a MongoDB call) blocks: seen with gthread and
    gevent workers, it lasted until the master's SIGKILL at the graceful timeout, or
    forever when the master had been killed first. SIGTERM (graceful) does not come here.
    """
    logging.shutdown()  # flush the log handlers
    os._exit(0)


def child_exit(server: Any, worker: Any) -> None:
    """Fold a dead worker's live gauges away (prometheus_client multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
