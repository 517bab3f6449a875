"""gunicorn configuration (read by `gunicorn -c gunicorn.conf.py`).

Environment knobs: WEB_CONCURRENCY (workers, default 2), GUNICORN_WORKER_CONNECTIONS
(Flask: connections one gevent worker serves at once, default 1000), GUNICORN_TIMEOUT
(s, default 30), GUNICORN_GRACEFUL_TIMEOUT (s, default 30; SIGINT and SIGTERM stop
every process within it), GUNICORN_MAX_REQUESTS (requests a worker serves before it is
recycled, default 10000; 0 never), GUNICORN_MAX_REQUESTS_JITTER (default 1000), PORT
(default 8000), PROMETHEUS_MULTIPROC_DIR (metrics across workers; set in the Dockerfile).
The service's own settings are validated here, in the master, so a bad value stops
start-up with one line before any worker forks.
"""

import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.core.logs import logging_config
from {{ cookiecutter.package_name }}.core.settings import SettingsError, load_settings

try:
    _settings = load_settings()
except SettingsError as exc:
    sys.exit(f"error: {exc}")

wsgi_app = "{{ cookiecutter.package_name }}.app:create_app()"
worker_class = "{{ cookiecutter.__worker_class }}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Flask runs on gevent workers: every connection is a greenlet, so clients that stall
# mid-request (slowloris, a body that never comes) wait without holding a thread that
# health probes need (2 workers x 4 gthread threads were starved by 8 such clients).
# uvicorn workers ignore this setting.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
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
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "1000"))
# No client at import time: each worker creates its own MongoDB client (not fork-safe).
preload_app = False
# gunicorn >= 25.1 opens a control socket under $HOME; containers have no use for it.
control_socket_disable = True
accesslog = None  # the app logs one access event per request itself
logconfig_dict = logging_config(_settings.log_level, _settings.resolved_log_format)


def on_starting(server: Any) -> None:
    """Empty the Prometheus multiprocess directory: stale files would skew counts."""
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        Path(metrics_dir).mkdir(parents=True, exist_ok=True)


def post_fork(server: Any, worker: Any) -> None:
    """Let SIGINT, SIGQUIT or SIGTERM stop a worker that is still booting.

    A forked worker inherits the master's handlers, which only queue the signal for the
    master's loop, until it installs its own; gevent workers patch the standard library
    first, so a signal in that window was lost and the worker lived on until the
    master's SIGKILL at the graceful timeout. The default action ends it at once (it
    serves nothing yet).
    """
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def post_worker_init(worker: Any) -> None:
    """Make uvicorn workers honour gunicorn's shutdown signals (other workers already do).

    uvicorn-worker routes SIGQUIT (the master's quick shutdown, sent on SIGINT) to
    `handle_exit`, which only sets a flag uvicorn never reads (uvicorn-worker issue #2):
    route it to `handle_quit`, gunicorn's quick exit. And uvicorn waits for open
    connections without limit on SIGTERM; bound that wait by the graceful timeout
    (less a second for the lifespan shutdown), so a worker whose master is gone still
    exits.
    """
    config = getattr(worker, "config", None)  # uvicorn's Config, on uvicorn workers only
    if config is not None:
        worker.handle_exit = worker.handle_quit
        config.timeout_graceful_shutdown = max(1, worker.cfg.graceful_timeout - 1)


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
