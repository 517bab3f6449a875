"""The app factory: `create_app()` builds the Flask application.

Run it with gunicorn (see gunicorn.conf.py) or, in development,
`flask --app {{ cookiecutter.package_name }}.app:create_app run --debug`.
"""

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import flask_openapi_swagger.templates as swagger_ui
from flask import Blueprint, Response, jsonify, render_template_string
from flask_cors import CORS
from flask_openapi.models.info import Info
from flask_openapi.models.schema import Schema
from flask_openapi.openapi import OpenAPI

from . import __version__
from .core import db, guard, health, middleware, tracing
from .core.access import Policy, load_policy
from .core.crud import Resource
from .core.crud.repository import build_repositories, warm_up
from .core.crud.routes import blueprint
from .core.crud.spec import refuse_shared
from .core.gate import MigrationGate
from .core.handlers import handle_validation_error, register_error_handlers
from .core.logs import configure_logging
from .core.metrics import METRICS_PATH, HttpMetrics
from .core.migrations.runner import discover
from .core.schemas import Problem, ValidationProblem
from .core.settings import Settings, load_settings
from .resources import RESOURCES


def create_app(
    settings: Settings | None = None,
    resources: Sequence[Resource] = RESOURCES,
    policy: Policy | None = None,
) -> OpenAPI:
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
    app = OpenAPI(
        __name__,
        info=Info(
            title="{{ cookiecutter.project_name }}",
            description="{{ cookiecutter.description }}",
            version=__version__,
        ),
        validation_error_callback=handle_validation_error,
        validation_error_model=ValidationProblem,
        doc_ui=False,
    )
    # Debug mode (the interactive debugger) only ever in development.
    app.config.update(
        SETTINGS=settings,
        DEBUG=settings.environment == "development",
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        # OPTIONS answers only where CORS needs them, as in the FastAPI variant.
        PROVIDE_AUTOMATIC_OPTIONS=bool(settings.cors_origins),
    )
    app.extensions["started_at"] = time.monotonic()
    app.extensions["migration_gate"] = MigrationGate(
        discover(),
        [resource.plural for resource in resources],  # their blueprints' names
        enabled=settings.ready_requires_migrations,
        timeout_ms=settings.readiness_timeout_ms,
    )
    app.extensions["policy"] = policy
    app.components_schemas["Problem"] = Schema(**Problem.model_json_schema())
    init_db(app, settings, resources)
    app.register_api(health.bp)  # same order as the FastAPI variant's OpenAPI document
    for resource in resources:
        app.register_api(blueprint(resource))
    metrics = HttpMetrics()
    app.extensions["metrics"] = metrics
    register_error_handlers(app)
    guard.protect(app, policy)
    middleware.init_app(
        app,
        metrics,
        settings.max_body_bytes,
        app.extensions["migration_gate"],
        guard.request_guard(policy, resources),
        access_log_probes=settings.access_log_probes,
        no_store_prefixes=guard.no_store_prefixes(policy, resources),
    )
    register_docs(app)

    @app.get(METRICS_PATH, doc_ui=False)
    def get_metrics() -> Response:
        """Expose Prometheus metrics (text format)."""
        body, content_type = metrics.render()
        return Response(body, content_type=content_type)

    if settings.cors_origins:
        CORS(
            app,
            origins=settings.cors_origins,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "X-Request-ID",
                *policy.request_headers,
            ],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
        )
    tracing.instrument_http(app)  # last: its span encloses every other middleware
    return app


def init_db(app: OpenAPI, settings: Settings, resources: Sequence[Resource]) -> None:
    """Create this process's MongoDB client and one repository per resource on top of it.

    Start-up never changes the schema (collections, validators, indexes): migrations do
    (`python -m {{ cookiecutter.package_name }}.core.migrations upgrade`), and `/health/ready`
    and the resource routes answer 503 until they have run (`gate`).
    """
    client = db.create_client(settings)
    database = client[settings.mongo_database]
    app.extensions["mongo_client"] = client
    app.extensions["database"] = database
    app.extensions["resources"] = tuple(resources)
    app.extensions["repositories"] = build_repositories(resources, database, settings)
    warm_up(app.extensions["repositories"], settings.mongo_server_selection_timeout_ms)
    app.extensions["migration_gate"].start(database)


def openapi_document(app: OpenAPI) -> dict[str, Any]:
    """Return the OpenAPI document, without 422s on operations that take no input.

    flask-openapi documents a 422 on every operation; one without parameters or a
    body (the health probes) cannot fail validation, and FastAPI lists none there.
    The access policy then declares its security scheme and each operation's scope.
    """
    document: dict[str, Any] = app.api_doc
    for operations in document["paths"].values():
        for operation in operations.values():
            if not operation.get("parameters") and "requestBody" not in operation:
                operation["responses"].pop("422", None)
    return guard.secure_openapi(document, app.extensions["policy"], app.extensions["resources"])


def register_docs(app: OpenAPI) -> None:
    """Serve the OpenAPI document at /openapi.json and Swagger UI at /docs.

    Swagger UI's assets come bundled with flask-openapi-swagger (no CDN).
    """
    assets = Blueprint(
        "swagger_ui",
        __name__,
        static_folder=str(Path(swagger_ui.__file__).parent / "swagger"),
        static_url_path="/swagger",
    )
    app.register_blueprint(assets)

    @app.get("/openapi.json", doc_ui=False)
    def get_openapi() -> Response:
        """Return the OpenAPI document."""
        return jsonify(openapi_document(app))

    @app.get("/docs", doc_ui=False)
    def get_docs() -> str:
        """Return the Swagger UI page."""
        return render_template_string(
            swagger_ui.swagger_html_string,
            doc_url="/openapi.json",
            swagger_config=None,
            oauth_config=None,
        )
