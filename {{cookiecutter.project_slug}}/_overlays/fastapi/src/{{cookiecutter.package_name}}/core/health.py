"""Liveness and readiness probes (for Kubernetes, compose and load balancers)."""

import time

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .crud.repository import check_all
from .gate import MigrationGate
from .handlers import problem_response, problem_responses
from .problems import migrations_pending_problem, not_ready_problem
from .schemas import Liveness, Readiness

log = structlog.get_logger(__name__)


async def get_liveness(request: Request) -> Liveness:
    """Answer 200 while the process serves requests; never touches the database."""
    return Liveness(uptime_seconds=time.monotonic() - request.app.state.started_at)


async def get_readiness(request: Request) -> Readiness | JSONResponse:
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
    state = request.app.state
    gate: MigrationGate = state.gate
    try:
        await check_all(state.repositories, state.settings.readiness_timeout_ms)
        not_done = {} if gate.open else await gate.read()
    except Exception as exc:
        log.warning("readiness check failed", check="mongodb", error=type(exc).__name__)
        return problem_response(not_ready_problem("mongodb", exc, request.url.path))
    if not_done:
        log.warning("readiness check failed", check="migrations", migrations=not_done)
        return problem_response(migrations_pending_problem(not_done, request.url.path))
    return Readiness(checks={"mongodb": "ok"})


def add_health_routes(app: FastAPI) -> None:
    """Serve the probes from `app`'s own routes, not from an included router.

    FastAPI 0.165 matches an included router's routes in a nested pass, twice per
    request, so a probe behind the items router paid for every items route; as the
    app's own routes, registered before the items router, probes match first and items
    requests pay two regex misses. Measured with `bench/`: about -110k instructions
    (-13%) on `GET /health/live`.
    """
    app.add_api_route("/health/live", get_liveness, methods=["GET"], tags=["health"])
    app.add_api_route(
        "/health/ready",
        get_readiness,
        methods=["GET"],
        tags=["health"],
        response_model=Readiness,
        responses=problem_responses(503),
    )
