"""gunicorn settings for the bare baseline apps: the generated gunicorn.conf.py's server settings.

The harness sets BARE_APP (e.g. `bare_fastapi:app`) and BARE_WORKER_CLASS (the worker
class of the generated variant: uvicorn for FastAPI, gevent for Flask); workers, worker
connections and timeout come from the same variables the generated config reads.
"""

import os

wsgi_app = os.environ["BARE_APP"]
worker_class = os.environ["BARE_WORKER_CLASS"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "1000"))
preload_app = False
control_socket_disable = True
accesslog = None
