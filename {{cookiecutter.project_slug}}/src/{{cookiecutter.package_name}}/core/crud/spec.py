"""Declare a resource: one class of fields, and which of them are unique, sortable, filterable.

`Resource(Book, plural="books", unique=("name",), sorts=("name",), filters={"tag":
Filter("tags", Tag)})` is everything the core needs to serve `/api/v1/books`: the models
(`models`), the collection's `$jsonSchema` validator and its indexes are derived here,
once, when the resource is declared; the routes, repository, migrations and OpenAPI
document read them from the `Resource`.

Indexes (each list query is served by one, in its sort order; `documents.index_for`
names it): `<field>_unique` for each unique field; `<sort>_id` for each sort key that is
not unique (`created_at_id`: the key, then `_id` to break ties); and for each filter, one
per sort key, the filtered field first (`tags_created_at_id`, `tags_name`).
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from . import models
from .bson_schema import validator

Indexes = list[tuple[list[tuple[str, int]], dict[str, Any]]]
"""(keys, options) pairs for `create_index`."""

SNAKE_NAME = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
CREATED_AT = "created_at"
# Types a sort key may have: a cursor holds the last value shown (a datetime as ms).
SORTABLE = (str, int, float, bool, datetime)


@dataclass(frozen=True)
class Filter:
    """A list query parameter: only documents whose `field` holds the value.

    A scalar field must equal it; a list field must contain it (MongoDB matches an
    array field against one value by its elements).
    """

    field: str
    """The stored field the parameter matches."""
    type: Any
    """The parameter's type (an annotation, e.g. `Tag`): a wrong value is a 422."""


def snake_case(camel: str) -> str:
    """Return a class name in snake_case: `OrderLine` -> `order_line`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


class Resource:
    """One resource of the API: its declaration and what derives from it.

    Attributes:
        name: Snake_case singular (`order_line`), from the fields class (`OrderLine`):
            logs, problem details, the id parameter (`order_line_id`).
        plural: Snake_case plural: the URL (`/api/v1/order_lines`), the OpenAPI tag, the
            scopes, and (unless given) the collection.
        path, one_path: The URL of the list and of one document, in OpenAPI form.
        create, update, read, document, page, query: the derived models (`models`).
        validator: The collection's `$jsonSchema` validator (from `document`).
        indexes: The collection's indexes (see the module docstring).
    """

    def __init__(
        self,
        fields: type[BaseModel],
        *,
        plural: str,
        unique: Sequence[str] = (),
        sorts: Sequence[str] = (),
        filters: Mapping[str, Filter] | None = None,
        collection: str | None = None,
    ) -> None:
        """Declare a resource whose fields are `fields`.

        Args:
            fields: The fields a client sends to create one (a `models.Fields` class);
                its name, in CamelCase, is the resource's singular (`Book`).
            plural: The plural, snake_case (`books`).
            unique: Fields no two documents may share (a unique index each; a
                duplicate is a 409).
            sorts: Fields the list may be sorted by, besides `created_at` (always).
            filters: Query parameter name -> `Filter`, for the list.
            collection: The MongoDB collection; the plural when None.

        Raises:
            ValueError: the declaration names a field the class lacks, a unique or
                sort field that can be null, a sort field of a type a cursor cannot
                hold, or a name that is not snake_case; the message says which.
        """
        self.fields = fields
        self.name = snake_case(fields.__name__)
        self.plural = plural
        self.collection = collection or plural
        self.unique = tuple(unique)
        self.sorts = (CREATED_AT, *sorts)
        self.filters = dict(filters or {})
        self._check()
        self.path = f"/api/v1/{plural}"
        self.human = self.name.replace("_", " ")
        self.humans = plural.replace("_", " ")
        self.article = "an" if self.human[:1] in "aeiou" else "a"
        self.id_name = f"{self.name}_id"
        self.one_path = (
            self.path + "/{" + self.id_name + "}"
        )  # OpenAPI form: /api/v1/books/{book_id}
        camel = fields.__name__
        one_path = self.one_path
        self.create = models.create_model_of(
            fields,
            f"{camel}Create",
            f"Body of `POST {self.path}` and `PUT {one_path}` (full replace).",
        )
        self.update = models.update_model_of(fields, f"{camel}Update", one_path)
        self.read = models.read_model_of(
            fields,
            f"{camel}Read",
            f"{self.article.capitalize()} {self.human} as the API returns it.",
        )
        self.page = models.page_model_of(
            self.read, f"{camel}Page", f"One page of `GET {self.path}`."
        )
        self.document = models.document_model_of(
            fields,
            f"{camel}Document",
            f"{self.article.capitalize()} {self.human} as stored in its collection.",
        )
        self.query = models.query_model_of(
            f"{camel}Query",
            self.path,
            {param: flt.type for param, flt in self.filters.items()},
            self.sorts,
        )
        self.validator = validator(self.document)
        self.indexes = self._indexes()

    def __repr__(self) -> str:
        """Show the resource by its names."""
        return f"Resource({self.fields.__name__}, plural={self.plural!r})"

    def _check(self) -> None:
        """Refuse a declaration the core cannot serve (see `__init__`)."""
        fields = self.fields.model_fields
        for label, value in (("plural", self.plural), ("name", self.name)):
            if not SNAKE_NAME.match(value):
                raise ValueError(f"{self!r}: the {label} {value!r} is not snake_case")
        named = [*self.unique, *self.sorts[1:], *(flt.field for flt in self.filters.values())]
        for field in named:
            if field not in fields:
                raise ValueError(f"{self!r} names {field!r}, which is not one of its fields")
        for field in (*self.unique, *self.sorts[1:]):
            if models.nullable(fields[field].annotation):
                raise ValueError(
                    f"{self!r}: {field!r} may be null, so it cannot be unique or a sort"
                )
        for field in self.sorts[1:]:
            if models.plain(fields[field].annotation) not in SORTABLE:
                raise ValueError(f"{self!r}: {field!r} is not of a type a list can be sorted by")

    def sort_type(self, sort: str) -> type:
        """Return the (plain) type of sort key `sort`: what a cursor's position holds."""
        if sort == CREATED_AT:
            return datetime
        found: type = models.plain(self.fields.model_fields[sort].annotation)
        return found

    def is_unique(self, field: str) -> bool:
        """Return whether `field` has a unique index (no `_id` tiebreak needed to sort on it)."""
        return field in self.unique

    def index_name(self, sort: str, filter_field: str | None = None) -> str:
        """Return the name of the index that serves a list sorted by `sort` (and filtered)."""
        if filter_field is None:
            return f"{sort}_unique" if self.is_unique(sort) else f"{sort}_id"
        return f"{filter_field}_{sort}" if self.is_unique(sort) else f"{filter_field}_{sort}_id"

    def _indexes(self) -> Indexes:
        """Return the collection's indexes: unique fields, sort keys, filter x sort keys."""
        indexes: Indexes = [
            ([(field, 1)], {"unique": True, "name": f"{field}_unique"}) for field in self.unique
        ]
        filtered: list[str | None] = [None, *dict.fromkeys(f.field for f in self.filters.values())]
        for filter_field in filtered:
            for sort in self.sorts:
                if filter_field is None and self.is_unique(sort):
                    continue  # its unique index serves the sort
                keys = [] if filter_field is None else [(filter_field, 1)]
                keys.append((sort, 1))
                if not self.is_unique(sort):
                    keys.append(("_id", 1))
                indexes.append((keys, {"name": self.index_name(sort, filter_field)}))
        return indexes


def refuse_shared(resources: Sequence[Resource]) -> None:
    """Check that no two resources share a name, a plural (their URL) or a collection.

    Raises:
        ValueError: two resources share one; the message names both.
    """
    for index, first in enumerate(resources):
        for second in resources[index + 1 :]:
            for label in ("name", "plural", "collection"):
                if getattr(first, label) == getattr(second, label):
                    raise ValueError(
                        f"{first!r} and {second!r} share the {label} "
                        f"{getattr(first, label)!r}: give each resource its own."
                    )
