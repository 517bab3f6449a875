"""Derive a resource's API and storage models from the one class that declares its fields.

A resource declares its fields once, as a `Fields` class (what a client sends to create
one: `class Book(Fields)` in `resources/books/`). Everything else is derived from it and
named after it (`Book` -> `BookCreate`, `BookUpdate`, ...), so a field added there is
accepted, validated, stored, enforced by the collection's validator and returned, with no
second edit:

- `create`: the body of POST and PUT (a full replace): the declared class, renamed.
- `update`: the body of PATCH: any non-empty subset of the fields; a field that cannot be
  null may be left out but not sent as null.
- `read`: what the API returns: `id`, every field (plain types, no defaults: the input
  rules are the write side's business), `created_at`, `updated_at`, `version`.
- `document`: the stored shape, strict (a BSON type is never coerced): the fields, `_id`,
  the timestamps and the version; the collection's `$jsonSchema` validator comes from it.
- `page`: one page of the list (`schemas.Page` of `read`).
- `query`: the list's query parameters: paging, each declared filter, sort, cursor.
"""

import types
import typing
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from ..schemas import OBJECT_ID_PATTERN, Page
from .bson_schema import ObjectIdField


class Fields(BaseModel):
    """Base of a resource's field declaration: a body with an unknown field is a 422."""

    model_config = ConfigDict(extra="forbid")


IdField = Annotated[str, Field(pattern=OBJECT_ID_PATTERN, examples=["6740f2a7c6b1f2a9d0e4b1c3"])]
"""A document's id as the API shows it: 24 hex digits."""


class ListQuery(Protocol):
    """What the core reads of a list query (an instance of a resource's `query` model).

    The model is derived per resource, so it has no static type; its filter parameters
    are read by name (`getattr`).
    """

    @property
    def page(self) -> int: ...

    @property
    def per_page(self) -> int: ...

    @property
    def sort(self) -> str: ...

    @property
    def cursor(self) -> str | None: ...

    @property
    def model_fields_set(self) -> set[str]: ...


OmittedOnly = SkipJsonSchema[None]
"""A PATCH field's None: it only stands for "left out", so the schema shows no null."""

PER_PAGE_DEFAULT = 20
PER_PAGE_MAX = 100
PAGE_MAX = 10_000


def plain(annotation: Any) -> Any:
    """Return `annotation` without its constraints: `Name` -> `str`, `list[Tag]` -> `list[str]`.

    `Annotated` metadata is dropped at every depth; unions and containers keep their
    shape; literals and nested models stay as they are.
    """
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return plain(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return Union[tuple(plain(arg) for arg in typing.get_args(annotation))]  # noqa: UP007
    if origin in (list, dict, tuple, set, frozenset):
        return origin[tuple(plain(arg) for arg in typing.get_args(annotation))]
    return annotation


def nullable(annotation: Any) -> bool:
    """Return whether `annotation` admits None (`X | None`)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return nullable(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return type(None) in typing.get_args(annotation)
    return annotation is type(None)


def listed(names: typing.Sequence[str], conjunction: str = "and") -> str:
    """Return names as prose, each in backticks: "`a`", "`a` and `b`", "`a`, `b` and `c`"."""
    quoted = [f"`{name}`" for name in names]
    if len(quoted) < 2:
        return "".join(quoted)
    return f"{', '.join(quoted[:-1])} {conjunction} {quoted[-1]}"


def create_model_of(fields: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """Return the body model of POST and PUT: `fields` itself, named `name`."""
    return type(name, (fields,), {"__doc__": doc, "__module__": fields.__module__})


def _reject_null(cls: type[BaseModel], value: object) -> object:
    """Refuse an explicit null for fields that cannot be empty."""
    if value is None:
        raise ValueError("may be omitted but not null")
    return value


def _require_a_field(self: BaseModel) -> BaseModel:
    """Reject an empty body: a PATCH must change something."""
    if not self.model_fields_set:
        raise ValueError("at least one field is required")
    return self


def update_model_of(fields: type[BaseModel], name: str, path: str) -> type[BaseModel]:
    """Return the body model of PATCH on `path`: any non-empty subset of `fields`.

    A field whose type admits null may be sent as null (it is cleared); any other may
    be left out, and an explicit null is a 422. None only stands for "omitted" there
    (left out of `model_dump(exclude_unset=True)`), so its schema shows no null.
    """
    definitions: dict[str, Any] = {}
    not_null: list[str] = []
    clearable: list[str] = []
    for field_name, info in fields.model_fields.items():
        annotation: Any = info.annotation
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        if nullable(info.annotation):
            definitions[field_name] = (annotation, Field(None, description=info.description))
            clearable.append(field_name)
        else:
            definitions[field_name] = (
                annotation | OmittedOnly,
                Field(None, description=info.description),
            )
            not_null.append(field_name)
    rules = [f"{listed(not_null)} may be omitted but not null"] if not_null else []
    rules += [f"{listed(clearable)} may be null (cleared)"] if clearable else []
    doc = f"Body of `PATCH {path}`: any non-empty subset of the fields."
    if rules:
        doc += "\n\n" + "; ".join(rules) + "."
    validators: dict[str, Any] = {
        "_require_a_field": model_validator(mode="after")(_require_a_field)
    }
    if not_null:
        validators["_reject_null"] = field_validator(*not_null)(classmethod(_reject_null))
    model: type[BaseModel] = create_model(
        name,
        __config__=ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1}),
        __doc__=doc,
        __module__=fields.__module__,
        __validators__=validators,
        **definitions,
    )
    return model


def read_model_of(fields: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """Return what the API returns: `id`, the fields (plain types), timestamps, version."""
    definitions: dict[str, Any] = {"id": (IdField, ...)}
    for field_name, info in fields.model_fields.items():
        definitions[field_name] = (plain(info.annotation), Field(description=info.description))
    definitions["created_at"] = (datetime, ...)
    definitions["updated_at"] = (datetime, ...)
    definitions["version"] = (int, ...)
    model: type[BaseModel] = create_model(
        name, __doc__=doc, __module__=fields.__module__, **definitions
    )
    return model


def page_model_of(read: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """Return the model of one page of the list: `Page` of `read`."""
    return type(name, (Page[read],), {"__doc__": doc, "__module__": read.__module__})  # type: ignore[valid-type]


def document_model_of(fields: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """Return the stored shape: the fields, `_id`, timestamps and version, validated strictly.

    It extends `fields`, under the same constraints. Strict: a BSON type is never
    coerced (an int is not 1.0, a date not a string); `extra="forbid"` becomes the
    validator's `additionalProperties: false`.
    """
    namespace: dict[str, Any] = {
        "__doc__": doc,
        "__module__": fields.__module__,
        "model_config": ConfigDict(strict=True, extra="forbid"),
        "__annotations__": {
            "id": ObjectIdField,
            "created_at": datetime,
            "updated_at": datetime,
            "version": Annotated[int, Field(ge=1)],
        },
        "id": Field(alias="_id"),
    }
    return type(name, (fields,), namespace)


def query_model_of(
    name: str,
    path: str,
    filters: dict[str, Any],
    sorts: typing.Sequence[str],
) -> type[BaseModel]:
    """Return the list's query model: `page`, `per_page`, each filter, `sort`, `cursor`.

    Args:
        name: The model's name (`BookQuery`).
        path: The list's path, for the docstring.
        filters: Each filter's query parameter name -> its type (optional, None: unused).
        sorts: The sort keys (`created_at`, `name`...): each ascending and descending
            (`-name`); newest first (`-created_at`) by default.
    """
    keys = tuple(key for sort in sorts for key in (sort, f"-{sort}"))
    kept = listed([*filters, "sort"])
    other = listed([*filters, "sort"], "or")
    definitions: dict[str, Any] = {
        "page": (int, Field(1, ge=1, le=PAGE_MAX)),
        "per_page": (int, Field(PER_PAGE_DEFAULT, ge=1, le=PER_PAGE_MAX)),
        **{param: (annotation | None, None) for param, annotation in filters.items()},
        "sort": (Literal[keys], "-created_at"),
        # At least one character: an empty `cursor=` is refused by the schema (422), as
        # the OpenAPI document declares, not taken for a cursor never issued (400).
        "cursor": (
            str | None,
            Field(
                None,
                min_length=1,
                description=(
                    "Continue after the page that gave this `next` cursor, at O(page) cost; "
                    f"keeps its {kept}. With `page` > 1, another {other}, "
                    "altered, or from another list: 400."
                ),
            ),
        ),
    }
    model: type[BaseModel] = create_model(
        name,
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"Query parameters of `GET {path}`; unknown parameters are rejected (422).",
        **definitions,
    )
    return model
