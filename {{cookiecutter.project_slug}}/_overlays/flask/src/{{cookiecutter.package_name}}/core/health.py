"""Liveness and readiness probes (for Kubernetes, compose and load balancers)."""

import time

import structlog
from flask import Response, current_app, request
from flask_openapi.blueprint import APIBlueprint
from flask_openapi.models.tag import Tag

from .crud.repository import check_all
from .gate import MigrationGate
from .handlers import json_response, problem_response, problem_responses
from .problems import migrations_pending_problem, not_ready_problem
from .schemas import Liveness, Readiness

bp = APIBlueprint("health", __name__, url_prefix="/health", abp_tags=[Tag(name="health")])
log = structlog.get_logger(__name__)


@bp.get("/live", responses={200: Liveness})
def get_liveness() -> Response:
    """Answer 200 while the process serves requests; never touches the database."""
    started_at: float = current_app.extensions["started_at"]
    return json_response(Liveness(uptime_seconds=time.monotonic() - started_at))


@bp.get("/ready", responses={200: Readiness, **problem_responses(503)})
def get_readiness() -> Response:
    """Answer 200 when MongoDB answers a ping within `readiness_timeout_ms` and every
    migration is applied, else 503.

    The 503 is a problem+json body whose `checks` names the failing check; migrations
    not done are named with their state ("pending", "running", "failed", "changed") in
    its `detail` and `migrations`. Once every migration was read done (or with
    `ready_requires_migrations` off) the records are not read again by this process
    (`gate.MigrationGate`, which this read also refreshes).
    """
    # Every resource's repository is checked (a ping each): one failing resource makes
    # the service not ready.
    gate: MigrationGate = current_app.extensions["migration_gate"]
    try:
        check_all(
            current_app.extensions["repositories"],
            current_app.config["SETTINGS"].readiness_timeout_ms,
        )
        not_done = {} if gate.open else gate.read()
    except Exception as exc:
        log.warning("readiness check failed", check="mongodb", error=type(exc).__name__)
        return problem_response(not_ready_problem("mongodb", exc, request.path))
    if not_done:
        log.warning("readiness check failed", check="migrations", migrations=not_done)
        return problem_response(migrations_pending_problem(not_done, request.path))
    return json_response(Readiness(checks={"mongodb": "ok"}))
