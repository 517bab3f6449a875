"""The routes of a resource (Flask): HTTP in, repository call, HTTP out. No data access.

`blueprint(resource)` serves `/api/v1/<plural>` for a declared resource: list, get,
create, replace, update, delete, with ETags, `If-Match`, `Idempotency-Key`, cursors and
`Link`, each documented in OpenAPI under the resource's own names (`get_books`,
`BookRead`, `book_id`). The handlers are written once, here.

flask-openapi documents each handler from its annotations (`path`, `query`, `header`,
`body` models) but does not validate the request: the handler does, once, with the same
models (`__delay_validate_request__`). flask-openapi's own validation copies every
request header into a model and builds JSON schemas on each request: about 100k
instructions per write (measured with the template's bench/); here each header the
route reads is looked up once, and a failure is the same 422 problem
(`handlers.validation_failed`).
"""

from collections.abc import Callable
from typing import Annotated, Any

from flask import Response, current_app, request
from flask_openapi.blueprint import APIBlueprint
from flask_openapi.models.tag import Tag
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, create_model
from pydantic.json_schema import SkipJsonSchema

from ..access import current_principal
from ..handlers import json_response, problem_responses, validation_failed
from ..schemas import IDEMPOTENCY_KEY_DESCRIPTION, OBJECT_ID_PATTERN, IdempotencyKey
from . import texts
from .cursors import next_link
from .etags import IF_MATCH_DESCRIPTION, IF_MATCH_PATTERN, etag, parse_if_match
from .idempotency import one_key, parse_key
from .repository import Repository
from .spec import Resource

IF_MATCH = "If-Match"
IDEMPOTENCY_KEY = "Idempotency-Key"


class IfMatchHeader(BaseModel):
    """The optional `If-Match` request header (documented; `parse_if_match` checks it)."""

    # The pattern is declared for clients, not checked by pydantic: `parse_if_match` checks
    # it and answers a mismatch with 400 (a malformed header), not 422.
    if_match: str | SkipJsonSchema[None] = Field(
        None,
        alias=IF_MATCH,
        description=IF_MATCH_DESCRIPTION,
        json_schema_extra={"pattern": IF_MATCH_PATTERN},
    )


class IdempotencyKeyHeader(BaseModel):
    """The optional `Idempotency-Key` request header."""

    # Several keys are a 400 (`one_key`: the WSGI server joins several header lines into
    # one value), a malformed one a 422.
    idempotency_key: Annotated[IdempotencyKey | None, BeforeValidator(one_key)] = Field(
        None, alias=IDEMPOTENCY_KEY, description=IDEMPOTENCY_KEY_DESCRIPTION
    )


def repository_of(resource: Resource) -> Repository:
    """Return the repository the app factory built for `resource` in this app."""
    repository: Repository = current_app.extensions["repositories"][resource.name]
    return repository


def validated(model: type[BaseModel], data: Any, location: str) -> Any:
    """Return `data` validated by `model`; a failure aborts with the 422 problem.

    Args:
        model: The request model (path, query, header or body).
        data: What the request holds for it.
        location: Where it came from (`path`, `query`, `header`, `body`): the first
            element of each error's `loc`, as FastAPI writes it.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        validation_failed(exc, location)


def idempotency_key() -> str | None:
    """Return the request's parsed `Idempotency-Key`, if it sent one (422 when malformed)."""
    value = request.headers.get(IDEMPOTENCY_KEY)
    if value is None:
        return None
    header = validated(IdempotencyKeyHeader, {IDEMPOTENCY_KEY: value}, "header")
    return parse_key(header.idempotency_key)


def body_of(model: type[BaseModel]) -> Any:
    """Return the request's JSON body (parsed by `middleware.check_body`) validated by `model`."""
    return validated(model, request.get_json(), "body")


def blueprint(resource: Resource) -> APIBlueprint:
    """Return the blueprint serving `resource` at `/api/v1/<plural>`."""
    bp = APIBlueprint(
        resource.plural, __name__, url_prefix=resource.path, abp_tags=[Tag(name=resource.plural)]
    )
    id_name = resource.id_name
    camel = resource.fields.__name__
    id_field: Any = Annotated[
        str, Field(pattern=OBJECT_ID_PATTERN, description=texts.id_description(resource))
    ]
    path_fields: dict[str, Any] = {id_name: (id_field, ...)}
    path_model = create_model(
        f"{camel}Path", __doc__=f"Path parameters of `{resource.one_path}`.", **path_fields
    )

    def document_id(values: dict[str, str]) -> str:
        """Return the id from the URL's values, checked by the path model (422 if malformed)."""
        checked: str = getattr(validated(path_model, values, "path"), id_name)
        return checked

    def versions() -> list[int] | None:
        """Return the versions the request's `If-Match` accepts (400 when malformed)."""
        return parse_if_match(request.headers.get(IF_MATCH))

    def found(model: Any, status: int = 200, **headers: str) -> Response:
        """Return a document as JSON with its ETag."""
        return json_response(model, status, {"ETag": etag(model.version), **headers})

    def get_all(**_: str) -> Response:
        query = validated(resource.query, request.args.to_dict(), "query")
        page: Any = repository_of(resource).get_all(query)
        headers = {}
        if page.next is not None:
            headers["Link"] = next_link(resource.path, page.next, page.per_page)
        return json_response(page, headers=headers)

    def get(**values: str) -> Response:
        return found(repository_of(resource).get(document_id(values)))

    def create(**_: str) -> Response:
        key = idempotency_key()
        body = body_of(resource.create)
        principal = current_principal()
        created: Any = repository_of(resource).create(
            body,
            idempotency_key=key,
            caller=None if principal is None else principal.caller,
        )
        return found(created, 201, Location=f"{resource.path}/{created.id}")

    # Checked in this order, as FastAPI does: the path and the body (422) before If-Match
    # (400, parsed by the handler).
    def replace(**values: str) -> Response:
        the_id = document_id(values)
        changes = body_of(resource.create).model_dump()
        return found(repository_of(resource).update(the_id, changes, versions=versions()))

    def update(**values: str) -> Response:
        the_id = document_id(values)
        changes = body_of(resource.update).model_dump(exclude_unset=True)
        return found(repository_of(resource).update(the_id, changes, versions=versions()))

    def delete(**values: str) -> Response:
        the_id = document_id(values)
        repository_of(resource).delete(the_id, versions=versions())
        return Response(status=204)

    one = f"/<{id_name}>"
    # verb: (rule, method, handler, the models it is documented with, the 2xx answer, problems)
    table: dict[str, tuple[str, str, Callable[..., Response], dict[str, Any], dict[int, Any]]] = {
        "get_all": ("", "get", get_all, {"query": resource.query}, {200: resource.page}),
        "get": (one, "get", get, {"path": path_model}, {200: resource.read}),
        "create": (
            "",
            "post",
            create,
            {"header": IdempotencyKeyHeader, "body": resource.create},
            {201: resource.read},
        ),
        "replace": (
            one,
            "put",
            replace,
            {"path": path_model, "header": IfMatchHeader, "body": resource.create},
            {200: resource.read},
        ),
        "update": (
            one,
            "patch",
            update,
            {"path": path_model, "header": IfMatchHeader, "body": resource.update},
            {200: resource.read},
        ),
        "delete": (
            one,
            "delete",
            delete,
            {"path": path_model, "header": IfMatchHeader},
            {204: None},
        ),
    }
    errors = {
        "get_all": (400, 422, 500, 503),
        "get": (404, 422, 500, 503),
        "create": (400, 409, 413, 415, 422, 503),
        "replace": (400, 404, 409, 412, 413, 415, 422, 503),
        "update": (400, 404, 409, 412, 413, 415, 422, 503),
        "delete": (400, 404, 412, 422, 503),
    }
    for verb in texts.VERBS:
        rule, method, handler, documented, answer = table[verb]
        handler.__name__ = handler.__qualname__ = texts.handler_name(resource, verb)
        handler.__doc__ = texts.docstring(resource, verb)
        handler.__annotations__ = {**documented, "return": Response}
        handler.__delay_validate_request__ = True  # type: ignore[attr-defined]
        decorator = getattr(bp, method)
        responses: dict[Any, Any] = {**answer, **problem_responses(*errors[verb])}
        decorator(rule, responses=responses)(handler)
    return bp
