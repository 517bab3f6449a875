"""Liveness and readiness probes (for Kubernetes, compose and load balancers)."""

import time

import pymongo
import structlog
from flask import Flask, Response, current_app, request
from flask_openapi.blueprint import APIBlueprint
from flask_openapi.models.tag import Tag

from .crud.repository import check_all
from .handlers import json_response, problem_response, problem_responses
from .migrations.runner import RECORDS, unapplied
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

    The 503 is a problem+json body whose `checks` names the failing check; pending
    migrations are named in its `detail` and `pending_migrations`.
    """
    # Every resource's repository is checked (a ping each): one failing resource makes
    # the service not ready.
    try:
        check_all(
            current_app.extensions["repositories"],
            current_app.config["SETTINGS"].readiness_timeout_ms,
        )
        pending = unapplied_migrations(current_app)
    except Exception as exc:
        log.warning("readiness check failed", check="mongodb", error=type(exc).__name__)
        return problem_response(not_ready_problem("mongodb", exc, request.path))
    if pending:
        log.warning("readiness check failed", check="migrations", pending=pending)
        return problem_response(migrations_pending_problem(pending, request.path))
    return json_response(Readiness(checks={"mongodb": "ok"}))


def unapplied_migrations(app: Flask) -> list[str]:
    """Return the ids of the migrations not applied yet, from the `migrations` records.

    Once every one is applied (or `ready_requires_migrations` is off) the answer is
    cached: the records are not read again by this process.
    """
    if app.extensions["migrations_applied"]:
        return []
    with pymongo.timeout(app.config["SETTINGS"].readiness_timeout_ms / 1000):
        cursor = app.extensions["database"][RECORDS].find({}, {"state": 1, "checksum": 1})
        records = cursor.to_list()
    pending = unapplied(app.extensions["migrations"], records)
    app.extensions["migrations_applied"] = not pending
    return pending
