"""The app factory: `create_app()` builds the FastAPI application.

Run it with gunicorn (see gunicorn.conf.py) or, in development,
`uvicorn --factory {{ cookiecutter.package_name }}.app:create_app --reload`.
"""

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .core import db, guard, health, tracing
from .core.access import Policy, load_policy
from .core.crud import Resource
from .core.crud.repository import build_repositories, warm_up
from .core.crud.routes import add_routes
from .core.crud.spec import refuse_shared
from .core.gate import MigrationGate
from .core.handlers import register_error_handlers
from .core.logs import configure_logging
from .core.metrics import METRICS_PATH, HttpMetrics
from .core.middleware import RequestContextMiddleware
from .core.migrations.runner import discover
from .core.problems import PROBLEM_MEDIA_TYPE
from .core.settings import Settings, load_settings
from .resources import RESOURCES


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Own the MongoDB client and one repository per resource; close the client at shutdown
    and export the spans still queued (`tracing.flush`).

    Start-up never changes the schema (collections, validators, indexes): migrations do
    (`python -m {{ cookiecutter.package_name }}.core.migrations upgrade`), and `/health/ready`
    and the resource routes answer 503 until they have run (`gate`).
    """
    settings: Settings = app.state.settings
    resources: Sequence[Resource] = app.state.resources
    client = db.create_client(settings)
    app.state.database = client[settings.mongo_database]
    app.state.repositories = build_repositories(resources, app.state.database, settings)
    await warm_up(app.state.repositories, settings.mongo_server_selection_timeout_ms)
    await app.state.gate.start(app.state.database)
    try:
        yield
    finally:
        await db.close_client(client)
        tracing.flush()  # a uvicorn worker ends right after, by re-raising SIGTERM


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    """Return the OpenAPI document with error responses typed `application/problem+json`.

    FastAPI files a response `model` under the app's JSON media type; our errors are
    RFC 9457 problem details, so 4xx/5xx content moves to `application/problem+json`.
    The access policy then declares its security scheme and each operation's scope.
    """
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = FastAPI.openapi(app)  # builds and caches app.openapi_schema
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    response["content"] = {PROBLEM_MEDIA_TYPE: content.pop("application/json")}
    return guard.secure_openapi(document, app.state.policy, app.state.resources)


def create_app(
    settings: Settings | None = None,
    resources: Sequence[Resource] = RESOURCES,
    policy: Policy | None = None,
) -> FastAPI:
    """Build the application.

    Args:
        settings: Configuration; read from the environment and `.env` when None.
        resources: The resources to serve (`resources.RESOURCES`).
        policy: Who may call which route (`access`); read like `settings` when None.

    Raises:
        SettingsError: a setting is invalid (the message names it).
        ValueError: two resources share a name, a plural or a collection.
    """
    refuse_shared(resources)
    settings = settings or load_settings()
    policy = policy or load_policy()
    configure_logging(settings.log_level, settings.resolved_log_format, tracing.log_processors())
    tracing.instrument_mongo()  # before any MongoDB client exists
    metrics = HttpMetrics()
    app = FastAPI(
        title="{{ cookiecutter.project_name }}",
        description="{{ cookiecutter.description }}",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served by `register_docs`, without a CDN
        redoc_url=None,
        openapi_url=None,  # served by `register_docs`, as a route the metrics can label
        # No redirect from `/path/` to `/path`: Starlette builds its Location from the
        # Host header (an open redirect). A trailing slash is a 404, as in Flask.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.resources = tuple(resources)
    app.state.policy = policy
    app.openapi = lambda: problem_openapi(app)  # type: ignore[method-assign]
    app.state.started_at = time.monotonic()
    health.add_health_routes(app)
    resource_routes = [
        route
        for resource in resources
        for route in add_routes(app, resource, guard.dependencies(policy, resource))
    ]
    app.state.gate = MigrationGate(
        discover(),
        resource_routes,
        enabled=settings.ready_requires_migrations,
        timeout_ms=settings.readiness_timeout_ms,
    )
    register_error_handlers(app)
    guard.protect(app, policy)

    @app.get(METRICS_PATH, include_in_schema=False, dependencies=guard.metrics_dependencies(policy))
    async def get_metrics(request: Request) -> Response:
        """Expose Prometheus metrics (text format)."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    # Added last = outermost: request ids and logs cover CORS answers too.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "X-Request-ID",
                *policy.request_headers,
            ],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
        )
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        gate=app.state.gate,
        access_log_probes=settings.access_log_probes,
        no_store_prefixes=guard.no_store_prefixes(policy, resources),
    )
    register_docs(app)
    tracing.instrument_http(app)
    return app


def register_docs(app: FastAPI) -> None:
    """Serve the OpenAPI document at /openapi.json and Swagger UI at /docs.

    FastAPI's own /docs page loads Swagger UI from a public CDN: blank without internet
    access, so its assets come from the fastapi-offline package. Every docs path is an
    API route (not a mount), so the metrics label it by its template, as in Flask.
    Registered after the API routes, so API requests never try these first.
    """
    assets_dir = Path(fastapi_offline.__file__).parent / "static"
    assets = {path.name: path for path in assets_dir.iterdir() if path.is_file()}

    @app.get("/openapi.json", include_in_schema=False)
    async def get_openapi() -> JSONResponse:
        """Return the OpenAPI document."""
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def get_docs() -> HTMLResponse:
        """Return the Swagger UI page."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url="swagger/swagger-ui-bundle.js",
            swagger_css_url="swagger/swagger-ui.css",
            swagger_favicon_url="swagger/favicon.png",
        )

    @app.get("/swagger/{filename}", include_in_schema=False)
    async def get_swagger_asset(filename: str) -> FileResponse:
        """Return one of Swagger UI's files; any other name is a 404."""
        path = assets.get(filename)
        if path is None:
            raise StarletteHTTPException(404)
        return FileResponse(path)
