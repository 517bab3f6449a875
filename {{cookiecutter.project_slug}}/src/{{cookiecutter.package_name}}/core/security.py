"""What access means in every mode: scopes per method, credentials never in URLs, OpenAPI.

Framework-neutral, so both variants publish the same document: each app factory passes
its finished document through `secure_document` with the policy it enforces
(`access.Policy`) and the scopes of each resource's URL prefix. An open policy (no
schemes) leaves the document as it is.
"""

import urllib.parse
from typing import Any

from .problems import PROBLEM_MEDIA_TYPE, TITLES

SAFE_METHODS = frozenset({"GET", "HEAD"})
"""Methods that read: they need a resource's read scope; every other one its write scope."""

URL_CREDENTIALS = frozenset({"access_token", "api_key", "apikey"})
"""Query parameters that carry credentials by convention (RFC 6750 section 2.3 names
`access_token`): refused on protected routes, since URLs end up in logs and histories."""


def credentials_in_url(query: str) -> bool:
    """Return whether the raw query string `query` has a `URL_CREDENTIALS` parameter.

    Names are compared after percent-decoding and in any case (`?API%5FKey=` counts),
    with or without a value.
    """
    lowered = query.lower()
    if "token" not in lowered and "key" not in lowered and "%" not in lowered:
        return False  # the common case, without parsing
    return any(
        name.lower() in URL_CREDENTIALS
        for name, _ in urllib.parse.parse_qsl(query, keep_blank_values=True)
    )


def scope_for(method: str, read: str, write: str) -> str:
    """Return the scope a request with `method` needs: `read` for GET/HEAD, else `write`."""
    return read if method in SAFE_METHODS else write


def _problem_response(status: int) -> dict[str, Any]:
    """Return the OpenAPI response object of a problem+json answer with `status`."""
    return {
        "description": TITLES[status],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def secure_document(
    document: dict[str, Any],
    schemes: dict[str, dict[str, Any]],
    scopes_by_prefix: dict[str, tuple[str, str]],
) -> dict[str, Any]:
    """Declare `schemes` and, on every operation under a protected prefix, its requirement.

    Args:
        document: The OpenAPI document; changed in place and returned.
        schemes: `components.securitySchemes` of the policy (name -> scheme); empty for
            an open policy, which leaves `document` unchanged.
        scopes_by_prefix: URL prefix of each resource (`/api/v1/orders`) -> (read, write)
            scope names. Each operation lists the one it needs (OpenAPI 3.1 allows
            role names in requirements of non-OAuth schemes) and documents 401 and 403.
    """
    if not schemes:
        return document
    document.setdefault("components", {})["securitySchemes"] = schemes
    for path, operations in document["paths"].items():
        scopes = next(
            (
                pair
                for prefix, pair in scopes_by_prefix.items()
                if path == prefix or path.startswith(prefix + "/")
            ),
            None,
        )
        if scopes is None:
            continue
        for method, operation in operations.items():
            scope = scope_for(method.upper(), *scopes)
            operation["security"] = [{name: [scope]} for name in schemes]
            operation["responses"]["401"] = _problem_response(401)
            operation["responses"]["403"] = _problem_response(403)
    return document
