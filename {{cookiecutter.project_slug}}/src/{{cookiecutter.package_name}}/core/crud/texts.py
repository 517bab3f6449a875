"""What the OpenAPI document says of a resource's routes, in its own words, for both frameworks.

Each route's docstring (FastAPI: summary from the handler's name and description from
this text; flask-openapi: summary and description from this text) and the id
parameter's description, made from the resource's names and declaration, so both
variants publish the same words for every resource.
"""

from .models import listed
from .spec import Resource

VERBS = ("get_all", "get", "create", "replace", "update", "delete")
"""The operations every resource serves, in the order their routes are added."""


def handler_name(resource: Resource, verb: str) -> str:
    """Return the handler's name for `verb` (one of `VERBS`): `get_books`, `create_book`."""
    return f"get_{resource.plural}" if verb == "get_all" else f"{verb}_{resource.name}"


def id_description(resource: Resource) -> str:
    """Return the description of the id path parameter."""
    return f"The {resource.human}'s id (24 hex digits)."


def docstring(resource: Resource, verb: str) -> str:
    """Return the docstring of the handler for `verb` (one of `VERBS`)."""
    one = f"{resource.article} {resource.human}"
    if verb == "get_all":
        if not resource.filters:
            narrowed = ""
        elif len(resource.filters) == 1:
            narrowed = f", optionally only those with a {next(iter(resource.filters))}"
        else:
            narrowed = f", optionally filtered by {listed(list(resource.filters))}"
        return (
            f"List {resource.humans}, a page at a time{narrowed}.\n\n"
            "Ask for a page by number (`page`, with the exact `total`) or follow `next` (the\n"
            "`cursor`, also in the `Link` header): cursor pages cost the same at any depth."
        )
    if verb == "get":
        return f"Return one {resource.human}; its ETag is its version."
    if verb == "create":
        unique = " or ".join(resource.unique)
        duplicate = f" A duplicate {unique} is a 409." if unique else ""
        return (
            f"Create {one}; `Location` points at it.{duplicate}\n\n"
            "With an `Idempotency-Key`, a retry by the same caller gets the first answer "
            f"again and\nnever a second {resource.human}; more than one key is a 400."
        )
    if verb == "replace":
        return f"Replace every field of {one}; a stale `If-Match` is a 412 and changes nothing."
    if verb == "update":
        return f"Change the given fields of {one}; a stale `If-Match` is a 412 and changes nothing."
    if verb == "delete":
        return f"Delete {one}; a stale `If-Match` is a 412 and deletes nothing."
    raise ValueError(f"unknown verb {verb!r}")
