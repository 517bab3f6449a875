"""Profile a generated service by ablation: Ir/request with one layer removed at a time.

`flask_hooks`, `header_models` and `json_check` patch what only the Flask variant has,
so a FastAPI run leaves them out by default and refuses them if asked.

`python -m bench.ablate [--variant fastapi-pymongo] [--requests 50]` after a `make bench`
(it reuses build/bench). Each line is the instructions a layer costs per request: the
difference between the full service and the service with that layer patched out.
Python-level costs do not show in callgrind_annotate (it sees the interpreter's C
functions), so removing one layer at a time is how we attribute instructions.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import signal
import sys

# Layer name -> what is patched out (in the worker, before the app is built).
LAYERS = {
    "access_log": "the access event (structlog -> JSON -> stdout)",
    "metrics": "HttpMetrics.observe (Prometheus counter + histogram, multiprocess files)",
    "request_id": "request id parsing/generation and structlog contextvars",
    "context_mw": "the whole request-context middleware (passthrough; ASGI or WSGI)",
    "db_options": "client options w=majority / j=true (driver defaults; timeoutMS stays)",
    "deadline": "the repository's per-run deadline (timeouts.call_timeout + pymongo.timeout)",
    "json_check": "the JSON Content-Type check of write routes (Flask's body hook)",
    # Not a removal: the logging HOWTO's "Optimization" switches (no caller lookup,
    # no thread/process names on records), to see what they save.
    "stdlib_fast": "(tuning, not removal) logging._srcfile = None, logThreads/Processes off",
    "access_native": "(tuning) access event through structlog's own JSON writer, not stdlib",
    "metrics_cached": "(tuning) labelled Prometheus children cached per (method, route, status)",
    "item_model": "validation of the read model built from a stored document (model_construct)",
    "flask_hooks": "the WSGI middleware and the body-check hook (middleware.init_app)",
    "header_models": "(tuning) flask-openapi's header validation reading only the declared headers",
}
# Layers that patch classes only the Flask variant has.
FASTAPI_ONLY: set[str] = set()
FLASK_ONLY = {"flask_hooks", "header_models", "json_check"}


def ablate(package: str, names: str) -> None:
    """Patch the named layers of `package` out (comma-separated names from LAYERS)."""
    chosen = set(filter(None, names.split(",")))
    middleware = importlib.import_module(f"{package}.core.middleware")
    if "access_log" in chosen:

        class Silent:
            def bind(self, **kwargs: object) -> Silent:
                return self

            def info(self, *args: object, **kwargs: object) -> None:
                pass

        middleware.access_log = Silent()
    if "metrics" in chosen:
        importlib.import_module(f"{package}.core.metrics").HttpMetrics.observe = (
            lambda self, *args: None
        )
    if "request_id" in chosen:
        middleware.request_id_from = lambda header: "0" * 32
        middleware.structlog = type(
            "S",
            (),
            {
                "contextvars": type(
                    "C",
                    (),
                    {
                        "clear_contextvars": staticmethod(lambda: None),
                        "bind_contextvars": staticmethod(lambda **kw: None),
                    },
                )
            },
        )
    if "context_mw" in chosen:
        if hasattr(middleware, "RequestContextMiddleware"):

            async def passthrough(self, scope, receive, send):  # type: ignore[no-untyped-def]
                await self.app(scope, receive, send)

            middleware.RequestContextMiddleware.__call__ = passthrough
        else:
            middleware.RequestContext.__call__ = lambda self, environ, start: self.wsgi_app(
                environ, start
            )
    if "deadline" in chosen:
        import contextlib
        import types

        repository = importlib.import_module(f"{package}.core.crud.repository")
        repository.call_timeout = lambda client, limit_s=None: None
        repository.pymongo = types.SimpleNamespace(timeout=lambda seconds: contextlib.nullcontext())
    if "json_check" in chosen:
        # Flask checks every write's Content-Type in its body hook; FastAPI checks it
        # only when a body fails validation (handlers.handle_validation_error).
        middleware.require_json = lambda content_type: None
    if "stdlib_fast" in chosen:
        import logging

        logging._srcfile = None
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
    if "access_native" in chosen:
        import sys

        import structlog

        middleware.access_log = structlog.wrap_logger(
            structlog.WriteLogger(sys.stdout),
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(20),
        ).bind(logger="access")
    if "metrics_cached" in chosen:
        metrics = importlib.import_module(f"{package}.core.metrics")

        def observe(self, method, route, status, seconds):  # type: ignore[no-untyped-def]
            cache = self.__dict__.setdefault("_children", {})
            children = cache.get((method, route, status))
            if children is None:
                labels = (method, route, str(status))
                children = cache[(method, route, status)] = (
                    self.requests.labels(*labels),
                    self.duration.labels(*labels),
                )
            children[0].inc()
            children[1].observe(seconds)

        metrics.HttpMetrics.observe = observe
    if "flask_hooks" in chosen:
        middleware.init_app = lambda *args, **kwargs: None
    if "header_models" in chosen:
        # flask-openapi 5 copies every request header into a dict and validates them all
        # as the header model's input; this reads only the headers the model declares.
        import flask
        import flask_openapi.request

        def validate_header(header, func_kwargs):  # type: ignore[no-untyped-def]
            names = [field.alias or name for name, field in header.model_fields.items()]
            found = {name: flask.request.headers.get(name) for name in names}
            func_kwargs["header"] = header.model_validate(found)

        flask_openapi.request._validate_header = validate_header
    if "item_model" in chosen:
        documents = importlib.import_module(f"{package}.core.crud.documents")

        def read(resource, document):  # type: ignore[no-untyped-def]
            fields = {
                name: document.get(name, info.default)
                for name, info in resource.fields.model_fields.items()
            }
            return resource.read.model_construct(
                id=str(document["_id"]),
                **fields,
                created_at=document["created_at"],
                updated_at=document["updated_at"],
                version=document["version"],
            )

        documents._read = read
    if "db_options" in chosen:
        settings = importlib.import_module(f"{package}.core.settings")
        options = settings.Settings.mongo_client_options
        # timeoutMS stays: the service's call timeouts read it (timeouts.py); B-durable/B
        # in the benchmark's table is what all the options cost a bare app.
        settings.Settings.mongo_client_options = lambda self: {
            key: value for key, value in options(self).items() if key not in ("w", "journal")
        }


def main() -> int:
    """Measure the full service and each ablation; print the table."""
    from bench import harness
    from tests.support import VARIANTS, mongo_server

    parser = argparse.ArgumentParser(prog="python -m bench.ablate")
    parser.add_argument("--variant", default="fastapi-pymongo", choices=list(VARIANTS))
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument(
        "--layers",
        help="comma-separated runs; join layers of one run with + (default: every layer "
        "the variant has)",
    )
    parser.add_argument("--endpoints", default="GET /health/live,GET /api/v1/items/{id}")
    args = parser.parse_args()
    fastapi = VARIANTS[args.variant]["framework"] == "fastapi"
    if args.layers is None:
        other = FLASK_ONLY if fastapi else FASTAPI_ONLY
        args.layers = ",".join(name for name in LAYERS if name not in other)
    elif wrong := (FLASK_ONLY if fastapi else FASTAPI_ONLY) & set(
        args.layers.replace("+", ",").split(",")
    ):
        parser.error(f"{', '.join(sorted(wrong))}: not layers of {args.variant}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop servers by pid
    project = next(
        (harness.WORK_DIR / "projects").glob(harness.package_of(args.variant).replace("_", "-"))
    )
    endpoints = args.endpoints.split(",")
    plan = harness.Plan(
        variants=[args.variant], callgrind_warmup=20, callgrind_requests=args.requests
    )
    rows: dict[str, dict[str, float]] = {}
    with mongo_server() as server:
        item_id = harness.seed(server.uri)
        harness.migrate(harness.package_of(args.variant), server.uri)
        # Compared with the bare app that pays for the same driver options (B-durable).
        generated, _, bare = harness.apps_for(
            args.variant, project, server.uri, workers=1, timeout=600
        )
        bare = dataclasses.replace(bare, role="B-ablate")  # its own callgrind folder
        rows["bare"] = harness.measure_instructions(bare, item_id, plan, endpoints)
        for layers in ["", *args.layers.split(",")]:
            app = dataclasses.replace(
                generated,
                role=f"G-{layers or 'full'}",
                argv=[generated.argv[0], "--config", str(harness.BENCH_DIR / "ablate_conf.py")],
                env={
                    **generated.env,
                    "BENCH_ABLATE": layers.replace("+", ","),
                    "BENCH_PACKAGE": harness.package_of(args.variant),
                    "PYTHONPATH": str(harness.TEMPLATE_ROOT),
                },
            )
            rows[layers or "full"] = harness.measure_instructions(app, item_id, plan, endpoints)
    full = rows["full"]
    print(f"\n| Layer removed | {' | '.join(endpoints)} |")
    print(f"|---|{'---:|' * len(endpoints)}")
    print(f"| (none: full G) | {' | '.join(f'{full[e] / 1000:,.0f}k' for e in endpoints)} |")
    bare = rows["bare"]
    print(f"| bare app (B-durable) | {' | '.join(f'{bare[e] / 1000:,.0f}k' for e in endpoints)} |")
    for name, found in rows.items():
        if name in ("full", "bare"):
            continue
        # Negative: the layer's removal saved that much; positive: it cost more (noise).
        saved = " | ".join(f"{(found[e] - full[e]) / 1000:+,.0f}k" for e in endpoints)
        print(f"| {name}: {LAYERS.get(name, name)} | {saved} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
