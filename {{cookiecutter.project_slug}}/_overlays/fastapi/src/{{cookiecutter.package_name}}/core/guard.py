"""Enforce the access policy (`access.Policy`) on FastAPI routes.

Every resource route is added with one dependency that authenticates the caller
and checks the scope its method needs (read for GET/HEAD, write otherwise); it runs
before the route's own dependencies and validation, so a caller without credentials
learns nothing about the request's shape. `/metrics` needs a scope only when
the policy names one (`metrics_scope`); health probes and the docs stay open. An open policy
(`auth=none`) adds nothing.

Every answer on a protected path, errors included, says `Cache-Control: no-store`
(`no_store_prefixes`, applied by the request middleware): it was made for one caller,
and RFC 9111 section 3.5 lets a shared cache keep a response to a request whose
credentials are not in an `Authorization` header (an API key's) and serve it to others.
"""

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from .access import AccessError, Policy, RefreshNeeded, bind_principal
from .crud.spec import Resource
from .handlers import problem_response
from .metrics import METRICS_PATH
from .problems import problem
from .security import scope_for, secure_document


def resource_scopes(policy: Policy, resource: Resource) -> tuple[str, str]:
    """Return the (read, write) scopes of `resource` under `policy` (named by its plural)."""
    return policy.scopes_for(resource.plural)


def requirement(
    policy: Policy, scopes: tuple[str, str] | None
) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """Return a dependency that admits a caller holding the scope of the request's method.

    `scopes` is a (read, write) pair, or None for one scope on every method (`/metrics`).
    """
    header = policy.request_headers[0].lower()

    async def require_access(request: Request) -> None:
        """Authenticate the caller and check its scope; bind it to the request."""
        values = request.headers.getlist(header)
        query = request.scope["query_string"].decode("latin-1")
        try:
            principal = policy.authenticate(values, query)
        except RefreshNeeded as needed:
            # The worker's one key fetch (in a thread of its own), over by its deadline;
            # the event loop serves other requests meanwhile.
            await asyncio.wrap_future(needed.fetch)
            principal = policy.authenticate(values, query, may_fetch=False)
        if scopes is None:
            policy.authorize(principal, policy.metrics_scope)
        else:
            policy.authorize(principal, scope_for(request.method, *scopes))
        bind_principal(principal)

    return require_access


def dependencies(policy: Policy, resource: Resource) -> list[Any]:
    """Return the router dependencies that protect `resource` (none on an open policy)."""
    if policy.open:
        return []
    return [Depends(requirement(policy, resource_scopes(policy, resource)))]


def metrics_dependencies(policy: Policy) -> list[Any]:
    """Return the dependencies of `/metrics`: a scope check only if one is configured."""
    if policy.open or not policy.metrics_scope:
        return []
    return [Depends(requirement(policy, None))]


def no_store_prefixes(policy: Policy, resources: Sequence[Resource]) -> tuple[str, ...]:
    """Return the path prefixes whose answers carry `Cache-Control: no-store` (none if open)."""
    if policy.open:
        return ()
    metrics = (METRICS_PATH,) if policy.metrics_scope else ()
    return (*(resource.path for resource in resources), *metrics)


async def handle_access_error(request: Request, exc: Exception) -> JSONResponse:
    """Render a refusal (401, 403, 503) as a problem with its `WWW-Authenticate` challenge."""
    assert isinstance(exc, AccessError)
    return problem_response(problem(exc.status, exc.detail, instance=request.url.path), exc.headers)


def protect(app: FastAPI, policy: Policy) -> None:
    """Render the policy's refusals as problems (the routes get their dependencies when included)."""
    if not policy.open:
        app.add_exception_handler(AccessError, handle_access_error)


def secure_openapi(
    document: dict[str, Any], policy: Policy, resources: Sequence[Resource]
) -> dict[str, Any]:
    """Declare the policy's security scheme and each operation's scope in `document`."""
    prefixes = {resource.path: resource_scopes(policy, resource) for resource in resources}
    return secure_document(document, policy.schemes, prefixes)
