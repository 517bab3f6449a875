"""Liveness and readiness probes (for Kubernetes, compose and load balancers)."""

import time

import structlog
from flask import Response, current_app, request
from flask_openapi.blueprint import APIBlueprint
from flask_openapi.models.tag import Tag

from .handlers import json_response, problem_response, problem_responses
from .problems import not_ready_problem
from .resources import check_all
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
    """Answer 200 when MongoDB answers a ping within `readiness_timeout_ms`, else 503.

    The 503 is a problem+json body whose `checks` names the failing check. The first
    successful check also creates the indexes if start-up could not.
    """
    # Every resource's repository is checked (ping, then its own indexes until created):
    # one failing resource makes the service not ready.
    try:
        check_all(
            current_app.extensions["resources"],
            current_app.extensions["repositories"],
            current_app.config["SETTINGS"].readiness_timeout_ms,
        )
    except Exception as exc:
        log.warning("readiness check failed", check="mongodb", error=type(exc).__name__)
        return problem_response(not_ready_problem("mongodb", exc, request.path))
    return json_response(Readiness(checks={"mongodb": "ok"}))
