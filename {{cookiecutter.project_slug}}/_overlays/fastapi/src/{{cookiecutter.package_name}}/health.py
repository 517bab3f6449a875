"""Liveness and readiness probes (for Kubernetes, compose and load balancers)."""

import time

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .handlers import problem_response
from .problems import not_ready_problem
from .routes import RepositoryDep, problem_responses
from .schemas import Liveness, Readiness

router = APIRouter(prefix="/health", tags=["health"])
log = structlog.get_logger(__name__)


@router.get("/live")
async def get_liveness(request: Request) -> Liveness:
    """Answer 200 while the process serves requests; never touches the database."""
    return Liveness(uptime_seconds=time.monotonic() - request.app.state.started_at)


@router.get("/ready", response_model=Readiness, responses=problem_responses(503))
async def get_readiness(request: Request, repository: RepositoryDep) -> Readiness | JSONResponse:
    """Answer 200 when MongoDB answers a ping within `readiness_timeout_ms`, else 503.

    The 503 is a problem+json body whose `checks` names the failing check. The first
    successful check also creates the indexes if start-up could not.
    """
    try:
        await repository.check(request.app.state.settings.readiness_timeout_ms)
    except Exception as exc:
        log.warning("readiness check failed", check="mongodb", error=type(exc).__name__)
        return problem_response(not_ready_problem("mongodb", exc, request.url.path))
    return Readiness(checks={"mongodb": "ok"})
