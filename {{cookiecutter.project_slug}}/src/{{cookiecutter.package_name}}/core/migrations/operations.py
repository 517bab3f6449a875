"""What migrations do to the schema: create a resource's collection, change its validator.

Every operation is idempotent (safe to run again after a failure halfway), because a
migration that failed is run again from the start by the next `upgrade`.
"""

from collections.abc import Sequence
from typing import Any, Protocol

from pymongo.database import Database

Document = dict[str, Any]
Indexes = Sequence[tuple[Sequence[tuple[str, int]], dict[str, Any]]]
"""(keys, options) pairs for `create_index`."""


class Stored(Protocol):
    """What a migration needs of a resource (`resources.Resource` has it)."""

    @property
    def collection(self) -> str:
        """The collection holding the resource's documents."""
        ...

    @property
    def validator(self) -> dict[str, Any]:
        """The collection's validator, e.g. `{"$jsonSchema": {...}}`."""
        ...

    @property
    def indexes(self) -> Indexes:
        """The collection's indexes."""
        ...


def create_resource(db: Database[Document], resource: Stored) -> None:
    """Create `resource`'s collection with its validator, or update the validator; add indexes.

    The validator is strict and rejects (`validationLevel` strict, `validationAction`
    error): MongoDB itself refuses a document that does not match, whoever writes it.
    """
    if resource.collection in db.list_collection_names(filter={"name": resource.collection}):
        update_validator(db, resource)
    else:
        db.create_collection(
            resource.collection,
            validator=resource.validator,
            validationLevel="strict",
            validationAction="error",
        )
    create_indexes(db, resource.collection, resource.indexes)


def update_validator(db: Database[Document], resource: Stored) -> None:
    """Replace the validator of `resource`'s existing collection (`collMod`).

    Documents already stored are not checked again; a strict validator applies to every
    later insert and update of them, a migration's too. So a migration that adds a field
    applies a validator that accepts it before writing it (the old one refuses any field
    it does not list), and one that requires a field or narrows a rule applies it only
    after every stored document was brought in line.
    """
    db.command(
        "collMod",
        resource.collection,
        validator=resource.validator,
        validationLevel="strict",
        validationAction="error",
    )


def create_indexes(db: Database[Document], collection: str, indexes: Indexes) -> None:
    """Create each index on `collection` (an index that already exists is left as it is)."""
    for keys, options in indexes:
        db[collection].create_index(list(keys), **options)
