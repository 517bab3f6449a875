"""gunicorn configuration (read by `gunicorn -c gunicorn.conf.py`).

Environment knobs: WEB_CONCURRENCY (workers, default 2), GUNICORN_THREADS (Flask
threads per worker, default 4), GUNICORN_TIMEOUT (s, default 30),
GUNICORN_GRACEFUL_TIMEOUT (s, default 30), GUNICORN_MAX_REQUESTS (requests a worker
serves before it is recycled, default 10000; 0 never), GUNICORN_MAX_REQUESTS_JITTER
(default 1000), PORT (default 8000),
PROMETHEUS_MULTIPROC_DIR (metrics across workers; set in the Dockerfile).
The service's own settings are validated here, in the master, so a bad value stops
start-up with one line before any worker forks.
"""

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.logs import logging_config
from {{ cookiecutter.package_name }}.settings import SettingsError, load_settings

try:
    _settings = load_settings()
except SettingsError as exc:
    sys.exit(f"error: {exc}")

wsgi_app = "{{ cookiecutter.package_name }}.app:create_app()"
worker_class = "{{ cookiecutter.__worker_class }}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Bounds on the request head, the same in both variants (docs/operations.md): gunicorn's
# parser applies them under gthread, `workers.UvicornWorker` under uvicorn (which has
# none of its own). A request line over 8190 bytes is a 414 (gunicorn's maximum, as
# common proxies allow: long query strings get the app's 422 instead); more than 100
# header fields, or one over 8190 bytes, is a 431.
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


def child_exit(server: Any, worker: Any) -> None:
    """Fold a dead worker's live gauges away (prometheus_client multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
