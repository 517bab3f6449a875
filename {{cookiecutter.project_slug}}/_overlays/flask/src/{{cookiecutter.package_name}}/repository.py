"""Data access for items (sync): every MongoDB call of the service goes through here.

The repository owns integrity: names are unique (index), updates are single atomic
`find_one_and_update` calls guarded by the expected version, so concurrent writers
never lose a change. It raises domain errors (`errors`), never HTTP ones.
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, NoReturn

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from . import documents, timeouts
from .db import Collection
from .errors import DuplicateItemError, ItemNotFoundError, PreconditionFailedError
from .schemas import ItemCreate, ItemPage, ItemQuery, ItemRead


class ItemRepository:
    """Create, read, update and delete items in one MongoDB collection."""

    def __init__(self, collection: Collection) -> None:
        """Wrap `collection` (documents shaped as in `documents`)."""
        self.collection = collection
        self.indexes_ready = False

    def ensure_indexes(self) -> None:
        """Create the indexes the service relies on (idempotent)."""
        for keys, options in documents.INDEXES:
            self.collection.create_index(keys, **options)
        self.indexes_ready = True

    def check(self, timeout_ms: int) -> None:
        """Ping the server, and create the indexes if that has not succeeded yet.

        Raises:
            pymongo.errors.PyMongoError: the server is unreachable, refused the
                service's credentials, or gave no answer within `timeout_ms`
                milliseconds (or the shorter bound of `timeouts.call_timeout`).
        """
        with self._deadline(timeout_ms / 1000):
            self.collection.database.command("ping")
            if not self.indexes_ready:
                self.ensure_indexes()

    def get_all(self, query: ItemQuery) -> ItemPage:
        """Return one page of items, filtered by tag and sorted stably (ties by id)."""
        with self._deadline():
            filter_ = documents.list_filter(query)
            cursor = self.collection.find(
                filter_,
                sort=documents.sort_spec(query),
                skip=(query.page - 1) * query.per_page,
                limit=query.per_page,
            )
            found = cursor.to_list(length=query.per_page)
            total = self.collection.count_documents(filter_)
            return ItemPage(
                items=[documents.to_item(doc) for doc in found],
                page=query.page,
                per_page=query.per_page,
                total=total,
            )

    def get(self, item_id: str) -> ItemRead:
        """Return the item.

        Raises:
            ItemNotFoundError: no item has this id.
        """
        with self._deadline():
            found = self.collection.find_one(documents.item_filter(item_id))
            if found is None:
                raise ItemNotFoundError(item_id)
            return documents.to_item(found)

    def create(self, item_in: ItemCreate) -> ItemRead:
        """Insert a new item at version 1 and return it.

        Raises:
            DuplicateItemError: an item with this name exists.
        """
        with self._deadline():
            document = documents.new_document(item_in)
            try:
                self.collection.insert_one(document)
            except DuplicateKeyError:
                raise DuplicateItemError(item_in.name) from None
            return documents.to_item(document)

    def update(
        self, item_id: str, changes: dict[str, Any], *, versions: Sequence[int] | None = None
    ) -> ItemRead:
        """Apply `changes` atomically, bump the version, and return the new item.

        Args:
            item_id: The item's id.
            changes: Field values to set (validated schema fields only).
            versions: If given, change the item only while its version is one of
                these (the client's `If-Match`); the check and the write are one
                operation.

        Raises:
            ItemNotFoundError: no item has this id.
            PreconditionFailedError: its version is not in `versions`.
            DuplicateItemError: the new name belongs to another item.
        """
        with self._deadline():
            try:
                updated = self.collection.find_one_and_update(
                    documents.item_filter(item_id, versions),
                    documents.update_spec(changes),
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                raise DuplicateItemError(changes["name"]) from None
            if updated is None:
                self._raise_missing_or_changed(item_id)
            return documents.to_item(updated)

    def delete(self, item_id: str, *, versions: Sequence[int] | None = None) -> None:
        """Delete the item, only at one of `versions` when given.

        Raises:
            ItemNotFoundError: no item has this id.
            PreconditionFailedError: its version is not in `versions`.
        """
        with self._deadline():
            result = self.collection.delete_one(documents.item_filter(item_id, versions))
            if result.deleted_count == 0:
                self._raise_missing_or_changed(item_id)

    def _deadline(self, limit_s: float | None = None) -> AbstractContextManager[None]:
        """Bound every MongoDB call in the block by `timeouts.call_timeout` (seconds).

        Raises:
            pymongo.errors.OperationFailure: the database refused the service's
                credentials on the last attempt (raised again at once).
        """
        return pymongo.timeout(timeouts.call_timeout(self.collection.database.client, limit_s))

    def _raise_missing_or_changed(self, item_id: str) -> NoReturn:
        """After a guarded write matched nothing, raise the error that explains why."""
        if self.collection.find_one(documents.item_filter(item_id), {"_id": 1}) is None:
            raise ItemNotFoundError(item_id)
        raise PreconditionFailedError(item_id)
