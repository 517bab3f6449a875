"""Data access for items (async): every MongoDB call about items goes through here.

The repository owns integrity: names are unique (index), updates are single atomic
`find_one_and_update` calls guarded by the expected version, so concurrent writers
never lose a change, and a create with an `Idempotency-Key` stores at most one item
however often it is retried (`idempotency`). It raises domain errors (`errors`), never
HTTP ones.
"""

import asyncio
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, NoReturn

import pymongo
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

from .. import idempotency, timeouts
from ..clock import utcnow
from ..db import Collection, Document
from ..errors import (
    DuplicateError,
    IdempotencyKeyInFlightError,
    NotFoundError,
    PreconditionFailedError,
)
from . import documents
from .documents import RESOURCE
from .schemas import ItemCreate, ItemPage, ItemQuery, ItemRead

# How often a create looks at a key record again after losing a race for it.
_CLAIM_ATTEMPTS = 3


class ItemRepository:
    """Create, read, update and delete items in one MongoDB collection."""

    def __init__(
        self,
        collection: Collection,
        *,
        key_lease_ms: int,
        key_retention_s: int,
        cursor_key: bytes = b"",
    ) -> None:
        """Wrap `collection` (documents shaped as in `documents`).

        Args:
            collection: The items collection; `Idempotency-Key` records go to the
                `idempotency.COLLECTION` collection of the same database.
            key_lease_ms: How long (ms) a create holds its key before a retry may take
                over (`Settings.idempotency_lease_ms`).
            key_retention_s: How long (s) a key and its outcome are kept for replay.
            cursor_key: Key of the list cursors' tag (`cursors.signing_key`).
        """
        self.collection = collection
        self.keys = collection.database[idempotency.COLLECTION]
        self.key_lease_ms = key_lease_ms
        self.key_retention_s = key_retention_s
        self.cursor_key = cursor_key

    async def check(self, timeout_ms: int) -> None:
        """Ping the server (the indexes and validator come from migrations, not from here).

        Raises:
            TimeoutError: no answer within `timeout_ms` milliseconds.
            pymongo.errors.PyMongoError: the server is unreachable, refused the
                service's credentials, or gave no answer within the shorter bound of
                `timeouts.call_timeout`.
        """
        async with asyncio.timeout(timeout_ms / 1000):
            with self._deadline(timeout_ms / 1000):
                await self.collection.database.command("ping")

    async def get_all(self, query: ItemQuery) -> ItemPage:
        """Return one page of items, filtered by tag and sorted stably (ties by id).

        A page by number skips the earlier matches and counts every match (`total`):
        O(page x per_page + matches) on the server. A page by cursor starts at the
        cursor's position in the index and counts nothing: O(per_page).

        Raises:
            InvalidCursorError: the cursor is malformed, altered, or contradicts `query`.
            UnreadableDocumentError: a stored document on the page fails the read model.
        """
        with self._deadline():
            query, after = documents.continue_from(query, self.cursor_key, self.collection.name)
            cursor = self.collection.find(
                documents.page_filter(query, after),
                sort=documents.sort_spec(query),
                skip=0 if after is not None else (query.page - 1) * query.per_page,
                limit=query.per_page + 1,  # one more than shown: is there a next page?
                hint=documents.index_for(query),
            )
            found = await cursor.to_list(length=query.per_page + 1)
            total = None
            if after is None:
                total = await self.collection.count_documents(documents.list_filter(query))
            return documents.to_page(query, found, total, self.cursor_key, self.collection.name)

    async def get(self, item_id: str) -> ItemRead:
        """Return the item.

        Raises:
            NotFoundError: no item has this id.
        """
        with self._deadline():
            found = await self.collection.find_one(documents.item_filter(item_id))
            if found is None:
                raise NotFoundError(RESOURCE, item_id)
            return documents.to_item(found)

    async def create(
        self,
        item_in: ItemCreate,
        *,
        idempotency_key: str | None = None,
        caller: str | None = None,
    ) -> ItemRead:
        """Insert a new item at version 1 and return it.

        Args:
            item_in: The validated body.
            idempotency_key: The request's parsed `Idempotency-Key`, if any: the first
                outcome for the key is stored and returned again to every retry by
                the same caller.
            caller: Who sends the request (`access.Principal.caller`), so each caller's
                keys are its own; None when callers are not known (keys are shared).

        Raises:
            DuplicateError: an item with this name exists (also replayed).
            IdempotencyKeyReusedError: the key came first with another body.
            IdempotencyKeyInFlightError: an earlier request with the key still runs.
        """
        with self._deadline():
            if idempotency_key is not None:
                return await self._create_once(item_in, idempotency_key, caller)
            document = documents.new_document(item_in)
            try:
                await self.collection.insert_one(document)
            except DuplicateKeyError:
                raise DuplicateError(RESOURCE, item_in.name) from None
            return documents.to_item(document)

    async def _create_once(self, item_in: ItemCreate, key: str, caller: str | None) -> ItemRead:
        """Create the item for `key` once: claim the key, insert, store the outcome.

        Each step can be cut short by a crash; a retry repeats it safely (the item's
        `_id` is fixed by the key record, so a second insert finds the first).
        """
        digest = idempotency.fingerprint(item_in.model_dump())
        record = await self._claim_key(key, digest, caller)
        if record["state"] == "done":
            return documents.to_item(idempotency.replay(record))
        try:
            document = await self._insert_as(item_in, idempotency.document_id(record))
        except DuplicateError:
            await self.keys.update_one(
                idempotency.finish_filter(record),
                idempotency.duplicate_outcome(RESOURCE, item_in.name),
            )
            raise
        await self.keys.update_one(
            idempotency.finish_filter(record), idempotency.created_outcome(document)
        )
        return documents.to_item(document)

    async def _claim_key(self, key: str, digest: str, caller: str | None) -> Document:
        """Return the key's record, either finished (to replay) or claimed by this request.

        A record past its retention counts as absent (`idempotency.next_step`).

        Raises:
            IdempotencyKeyReusedError: the record holds another body's fingerprint.
            IdempotencyKeyInFlightError: another request holds the key's lease.
        """
        for _ in range(_CLAIM_ATTEMPTS):
            now = utcnow()
            record = idempotency.new_record(
                documents.COLLECTION,
                key,
                digest,
                now,
                caller=caller,
                lease_ms=self.key_lease_ms,
                retention_s=self.key_retention_s,
            )
            try:
                await self.keys.insert_one(record)
                return record
            except DuplicateKeyError:
                pass
            found = await self.keys.find_one({"_id": record["_id"]})
            if found is None:  # expired (TTL) since the insert failed: claim it anew
                continue
            step = idempotency.next_step(found, digest, now, lease_ms=self.key_lease_ms)
            if step == "replay":
                return found
            if step == "replace":
                replaced = await self.keys.replace_one(idempotency.replace_filter(found), record)
                if replaced.matched_count == 1:
                    return record
                continue
            claimed = await self.keys.find_one_and_update(
                idempotency.take_over_filter(found),
                idempotency.renewed_lease(now, self.key_lease_ms),
                return_document=ReturnDocument.AFTER,
            )
            if claimed is not None:
                return claimed
        raise IdempotencyKeyInFlightError(retry_after_s=idempotency.QUICK_RETRY_S)

    async def _insert_as(self, item_in: ItemCreate, item_id: ObjectId) -> Document:
        """Insert the item under `item_id`; return the stored document.

        If an earlier attempt for the same key stored it already, return that one.

        Raises:
            DuplicateError: another item has the name.
        """
        document = documents.new_document(item_in, item_id)
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            stored = await self.collection.find_one({"_id": item_id})
            if stored is None:
                raise DuplicateError(RESOURCE, item_in.name) from None
            return stored
        return document

    async def update(
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
            NotFoundError: no item has this id.
            PreconditionFailedError: its version is not in `versions`.
            DuplicateError: the new name belongs to another item.
            UnreadableDocumentError: the stored item fails the stored model, so MongoDB
                refused to change it (its collection validator, or `$inc` on a version
                that is no number); nothing was changed.
        """
        with self._deadline():
            try:
                updated = await self.collection.find_one_and_update(
                    documents.item_filter(item_id, versions),
                    documents.update_spec(changes),
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                raise DuplicateError(RESOURCE, changes["name"]) from None
            except OperationFailure as exc:
                if exc.code not in documents.REFUSED_UPDATES:
                    raise
                await self._raise_unreadable(item_id, exc)
            if updated is None:
                await self._raise_missing_or_changed(item_id)
            return documents.to_item(updated)

    async def delete(self, item_id: str, *, versions: Sequence[int] | None = None) -> None:
        """Delete the item, only at one of `versions` when given.

        Raises:
            NotFoundError: no item has this id.
            PreconditionFailedError: its version is not in `versions`.
        """
        with self._deadline():
            result = await self.collection.delete_one(documents.item_filter(item_id, versions))
            if result.deleted_count == 0:
                await self._raise_missing_or_changed(item_id)

    def _deadline(self, limit_s: float | None = None) -> AbstractContextManager[None]:
        """Bound every MongoDB call in the block by `timeouts.call_timeout` (seconds).

        Raises:
            pymongo.errors.OperationFailure: the database refused the service's
                credentials on the last attempt (raised again at once).
        """
        return pymongo.timeout(timeouts.call_timeout(self.collection.database.client, limit_s))

    async def _raise_unreadable(self, item_id: str, refusal: OperationFailure) -> NoReturn:
        """After MongoDB refused to update the item, raise the error that names what is wrong.

        Raises:
            UnreadableDocumentError: the stored item fails `documents.ItemDocument`
                (the model its collection validator is derived from).
            NotFoundError: the item is gone.
            OperationFailure: `refusal` again, when the stored item is sound: the
                validator and the model disagree, which no request can fix.
        """
        stored = await self.collection.find_one(documents.item_filter(item_id))
        if stored is None:
            raise NotFoundError(RESOURCE, item_id)
        documents.check_stored(stored)
        raise refusal

    async def _raise_missing_or_changed(self, item_id: str) -> NoReturn:
        """After a guarded write matched nothing, raise the error that explains why."""
        if await self.collection.find_one(documents.item_filter(item_id), {"_id": 1}) is None:
            raise NotFoundError(RESOURCE, item_id)
        raise PreconditionFailedError(RESOURCE, item_id)
