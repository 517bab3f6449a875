"""`make demo`: bake a FastAPI service, install it, and serve it with an embedded MongoDB.

Starts a SecantusDB server (a MongoDB wire-protocol server, in memory) and the baked
service under gunicorn on 127.0.0.1:8000, prints where to look, and serves until
Ctrl-C. Options: --port, --framework, --async-driver, --out (the bake directory).
"""

import argparse
import shutil
import signal
import sys
import threading
from pathlib import Path

from tests.support import TEMPLATE_ROOT, bake, gunicorn_service, install, mongo_server


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--framework", choices=["fastapi", "flask"], default="fastapi")
    parser.add_argument("--async-driver", choices=["pymongo", "motor"], default="pymongo")
    parser.add_argument("--out", type=Path, default=TEMPLATE_ROOT / "build" / "demo")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Bake, install and serve until SIGINT or SIGTERM; return the exit status."""
    options = parse_args(argv)
    shutil.rmtree(options.out, ignore_errors=True)
    project = bake(options.out, framework=options.framework, async_driver=options.async_driver)
    print(f"baked {project}; installing (uv)...", flush=True)
    install(project)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    with (
        mongo_server() as mongo,
        gunicorn_service(
            project, mongo.uri, port=options.port, env={"ITEM_SERVICE_MONGO_DATABASE": "demo"}
        ) as service,
    ):
        print(
            f"\n{options.framework} service ready at {service.url}\n"
            f"  API docs:  {service.url}/docs\n"
            f"  OpenAPI:   {service.url}/openapi.json\n"
            f"  metrics:   {service.url}/metrics\n"
            f"  health:    {service.url}/health/ready\n"
            f"  MongoDB:   {mongo.uri} (embedded SecantusDB, in memory)\n"
            f"  logs:      {service.log_path}\n"
            "Ctrl-C stops both.",
            flush=True,
        )
        stopped.wait()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
