"""Enforce the access policy (`access.Policy`) on Flask routes.

One `before_request` hook, run after the request id is bound and before any body
check, authenticates the caller of every resource blueprint's route and checks the
scope its method needs (read for GET/HEAD, write otherwise), so a caller without
credentials learns nothing about the request's shape. `/metrics` needs a scope only
when the policy names one (`metrics_scope`); health probes and the docs stay open. An open
policy (`auth=none`) adds nothing.

Every answer on a protected path, errors included, says `Cache-Control: no-store`
(`no_store_prefixes`, applied by the request middleware): it was made for one caller,
and RFC 9111 section 3.5 lets a shared cache keep a response to a request whose
credentials are not in an `Authorization` header (an API key's) and serve it to others.
"""

from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask, Response, request

from .access import AccessError, Policy, RefreshNeeded, bind_principal
from .crud.spec import Resource
from .handlers import problem_response
from .metrics import METRICS_PATH
from .problems import problem
from .security import scope_for, secure_document


def resource_scopes(policy: Policy, resource: Resource) -> tuple[str, str]:
    """Return the (read, write) scopes of `resource` under `policy` (named by its plural)."""
    return policy.scopes_for(resource.plural)


def request_guard(policy: Policy, resources: Sequence[Resource]) -> Callable[[], None] | None:
    """Return the hook that admits callers holding the scope a route needs (None if open)."""
    if policy.open:
        return None
    # A resource's blueprint is named by its plural (`crud.routes.blueprint`).
    scopes = {resource.plural: resource_scopes(policy, resource) for resource in resources}
    header = policy.request_headers[0]

    def require_access() -> None:
        """Authenticate the caller and check its scope; bind it to the request."""
        bind_principal(None)  # a reused thread or greenlet must not see the last caller
        pair = scopes.get(request.blueprint or "")
        if pair is not None:
            scope = scope_for(request.method, *pair)
        elif request.path == METRICS_PATH and policy.metrics_scope:
            scope = policy.metrics_scope
        else:
            return
        values = request.headers.getlist(header)
        query = request.query_string.decode("latin-1")
        try:
            principal = policy.authenticate(values, query)
        except RefreshNeeded as needed:
            # The worker's one key fetch (in a greenlet of its own), over by its deadline;
            # the gevent worker serves other requests meanwhile.
            needed.fetch.result()
            principal = policy.authenticate(values, query, may_fetch=False)
        policy.authorize(principal, scope)
        bind_principal(principal)

    return require_access


def no_store_prefixes(policy: Policy, resources: Sequence[Resource]) -> tuple[str, ...]:
    """Return the path prefixes whose answers carry `Cache-Control: no-store` (none if open)."""
    if policy.open:
        return ()
    metrics = (METRICS_PATH,) if policy.metrics_scope else ()
    return (*(resource.path for resource in resources), *metrics)


def handle_access_error(exc: AccessError) -> Response:
    """Render a refusal (401, 403, 503) as a problem with its `WWW-Authenticate` challenge."""
    return problem_response(problem(exc.status, exc.detail, instance=request.path), exc.headers)


def protect(app: Flask, policy: Policy) -> None:
    """Render the policy's refusals as problems (the hook is installed by `middleware`)."""
    if not policy.open:
        app.register_error_handler(AccessError, handle_access_error)


def secure_openapi(
    document: dict[str, Any], policy: Policy, resources: Sequence[Resource]
) -> dict[str, Any]:
    """Declare the policy's security scheme and each operation's scope in `document`."""
    prefixes = {resource.path: resource_scopes(policy, resource) for resource in resources}
    return secure_document(document, policy.schemes, prefixes)
