"""What a resource's repository does, written once for the sync and the async driver.

Each operation is a generator (the "sans-I/O" style of h11 and friends): it yields the
MongoDB calls to make, in order, as `(collection, call)` pairs, receives each call's
result (or has the call's exception thrown in, where it may catch it), and returns the
operation's result. `repository.Repository` runs the steps with the framework's driver
(`MongoClient` in Flask, `AsyncMongoClient` or Motor in FastAPI, whose methods share
names and arguments) under one deadline. So both frameworks make the same calls in the
same order, and the rules below exist once:

- integrity: unique fields (their indexes: a duplicate is a `DuplicateError`); updates
  are single atomic `find_one_and_update` calls guarded by the expected version, so
  concurrent writers never lose a change;
- a create with an `Idempotency-Key` stores at most one document however often it is
  retried (`idempotency`);
- errors are domain errors (`errors`), never HTTP ones.
"""

from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

from bson import ObjectId
from pydantic import BaseModel
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

from ..clock import utcnow
from ..errors import (
    DuplicateError,
    IdempotencyKeyInFlightError,
    NotFoundError,
    PreconditionFailedError,
)
from ..settings import Settings
from . import cursors, documents, idempotency
from .models import ListQuery
from .spec import Resource

T = TypeVar("T")

DOCUMENTS = "documents"
"""The resource's own collection."""
KEYS = "keys"
"""The `Idempotency-Key` records' collection (`idempotency.COLLECTION`)."""

Call = tuple[str, Callable[[Any], Any]]
"""Which collection (`DOCUMENTS` or `KEYS`), and the call to make on it."""
Steps = Generator[Call, Any, T]
"""An operation: yields calls, receives their results, returns its own result."""

# How often a create looks at a key record again after losing a race for it.
_CLAIM_ATTEMPTS = 3


class Store:
    """The operations on one resource's documents: list, get, create, update, delete."""

    def __init__(
        self,
        resource: Resource,
        *,
        key_lease_ms: int,
        key_retention_s: int,
        cursor_key: bytes = b"",
    ) -> None:
        """Serve `resource` (its collection is the repository's business).

        Args:
            resource: The resource declared.
            key_lease_ms: How long (ms) a create holds its `Idempotency-Key` before a
                retry may take over (`Settings.idempotency_lease_ms`).
            key_retention_s: How long (s) a key and its outcome are kept for replay.
            cursor_key: Key of the list cursors' tag (`cursors.signing_key`).
        """
        self.resource = resource
        self.key_lease_ms = key_lease_ms
        self.key_retention_s = key_retention_s
        self.cursor_key = cursor_key

    def get_all(self, query: ListQuery) -> Steps[BaseModel]:
        """Return one page of the list, filtered and sorted stably (ties by id).

        A page by number skips the earlier matches and counts every match (`total`):
        O(page x per_page + matches) on the server. A page by cursor starts at the
        cursor's position in the index and counts nothing: O(per_page).

        Raises:
            InvalidCursorError: the cursor is malformed, altered, or contradicts `query`.
            UnreadableDocumentError: a stored document on the page fails the read model.
        """
        resource = self.resource
        query, after = documents.continue_from(resource, query, self.cursor_key)
        limit = query.per_page + 1  # one more than shown: is there a next page?
        found = yield (
            DOCUMENTS,
            _find(
                documents.page_filter(resource, query, after),
                sort=documents.sort_spec(resource, query),
                skip=0 if after is not None else (query.page - 1) * query.per_page,
                limit=limit,
                hint=documents.index_for(resource, query),
            ),
        )
        total = None
        if after is None:
            matching = documents.list_filter(resource, query)
            total = yield DOCUMENTS, _call("count_documents", matching)
        return documents.to_page(resource, query, found, total, self.cursor_key)

    def get(self, document_id: str) -> Steps[BaseModel]:
        """Return the document `document_id`.

        Raises:
            NotFoundError: no document has this id.
            UnreadableDocumentError: it fails the read model.
        """
        wanted = documents.id_filter(self.resource, document_id)
        found = yield DOCUMENTS, _call("find_one", wanted)
        if found is None:
            raise NotFoundError(self.resource.name, document_id)
        return documents.to_read(self.resource, found)

    def create(
        self,
        body: BaseModel,
        *,
        idempotency_key: str | None = None,
        caller: str | None = None,
    ) -> Steps[BaseModel]:
        """Insert a new document at version 1 and return it.

        Args:
            body: The validated body (`resource.create`).
            idempotency_key: The request's parsed `Idempotency-Key`, if any: the first
                outcome for the key is stored and returned again to every retry by
                the same caller.
            caller: Who sends the request (`access.Principal.caller`), so each caller's
                keys are its own; None when callers are not known (keys are shared).

        Raises:
            DuplicateError: a unique field's value is taken (also replayed).
            IdempotencyKeyReusedError: the key came first with another body.
            IdempotencyKeyInFlightError: an earlier request with the key still runs.
        """
        if idempotency_key is not None:
            return (yield from self._create_once(body, idempotency_key, caller))
        document = documents.new_document(self.resource, body)
        try:
            yield DOCUMENTS, _call("insert_one", document)
        except DuplicateKeyError as exc:
            raise self._duplicate(exc, document) from None
        return documents.to_read(self.resource, document)

    def _create_once(self, body: BaseModel, key: str, caller: str | None) -> Steps[BaseModel]:
        """Create the document for `key` once: claim the key, insert, store the outcome.

        Each step can be cut short by a crash; a retry repeats it safely (the document's
        `_id` is fixed by the key record, so a second insert finds the first).
        """
        digest = idempotency.fingerprint(body.model_dump())
        record = yield from self._claim_key(key, digest, caller)
        if record["state"] == "done":
            return documents.to_read(self.resource, idempotency.replay(record))
        finish = idempotency.finish_filter(record)
        try:
            document = yield from self._insert_as(body, idempotency.document_id(record))
        except DuplicateError as exc:
            outcome = idempotency.duplicate_outcome(exc.resource, exc.field, exc.value)
            yield KEYS, _call("update_one", finish, outcome)
            raise
        created = idempotency.created_outcome(document)
        yield KEYS, _call("update_one", finish, created)
        return documents.to_read(self.resource, document)

    def _claim_key(self, key: str, digest: str, caller: str | None) -> Steps[dict[str, Any]]:
        """Return the key's record, either finished (to replay) or claimed by this request.

        A record past its retention counts as absent (`idempotency.next_step`).

        Raises:
            IdempotencyKeyReusedError: the record holds another body's fingerprint.
            IdempotencyKeyInFlightError: another request holds the key's lease.
        """
        for _ in range(_CLAIM_ATTEMPTS):
            now = utcnow()
            record = idempotency.new_record(
                self.resource.collection,
                key,
                digest,
                now,
                caller=caller,
                lease_ms=self.key_lease_ms,
                retention_s=self.key_retention_s,
            )
            try:
                yield KEYS, _call("insert_one", record)
                return record
            except DuplicateKeyError:
                pass
            found: dict[str, Any] | None = yield KEYS, _call("find_one", {"_id": record["_id"]})
            if found is None:  # expired (TTL) since the insert failed: claim it anew
                continue
            step = idempotency.next_step(found, digest, now, lease_ms=self.key_lease_ms)
            if step == "replay":
                return found
            if step == "replace":
                replaced = yield (
                    KEYS,
                    _call("replace_one", idempotency.replace_filter(found), record),
                )
                if replaced.matched_count == 1:
                    return record
                continue
            lease = idempotency.renewed_lease(now, self.key_lease_ms)
            claimed: dict[str, Any] | None = yield (
                KEYS,
                _call(
                    "find_one_and_update",
                    idempotency.take_over_filter(found),
                    lease,
                    return_document=ReturnDocument.AFTER,
                ),
            )
            if claimed is not None:
                return claimed
        raise IdempotencyKeyInFlightError(retry_after_s=idempotency.QUICK_RETRY_S)

    def _insert_as(self, body: BaseModel, document_id: ObjectId) -> Steps[dict[str, Any]]:
        """Insert the document under `document_id`; return the stored document.

        If an earlier attempt for the same key stored it already, return that one.

        Raises:
            DuplicateError: another document has one of its unique values.
        """
        document = documents.new_document(self.resource, body, document_id)
        try:
            yield DOCUMENTS, _call("insert_one", document)
        except DuplicateKeyError as exc:
            stored: dict[str, Any] | None = yield DOCUMENTS, _call("find_one", {"_id": document_id})
            if stored is None:
                raise self._duplicate(exc, document) from None
            return stored
        return document

    def update(
        self, document_id: str, changes: dict[str, Any], *, versions: Sequence[int] | None = None
    ) -> Steps[BaseModel]:
        """Apply `changes` atomically, bump the version, and return the new document.

        Args:
            document_id: The document's id.
            changes: Field values to set (validated fields only).
            versions: If given, change the document only while its version is one of
                these (the client's `If-Match`); the check and the write are one
                operation.

        Raises:
            NotFoundError: no document has this id.
            PreconditionFailedError: its version is not in `versions`.
            DuplicateError: a changed unique value belongs to another document.
            UnreadableDocumentError: the stored document fails the stored model, so
                MongoDB refused to change it (its collection validator, or `$inc` on a
                version that is no number); nothing was changed.
        """
        wanted = documents.id_filter(self.resource, document_id, versions)
        spec = documents.update_spec(changes)
        try:
            updated = yield (
                DOCUMENTS,
                _call("find_one_and_update", wanted, spec, return_document=ReturnDocument.AFTER),
            )
        except DuplicateKeyError as exc:
            raise self._duplicate(exc, changes) from None
        except OperationFailure as exc:
            if exc.code not in documents.REFUSED_UPDATES:
                raise
            yield from self._raise_unreadable(document_id, exc)
        if updated is None:
            yield from self._raise_missing_or_changed(document_id)
        return documents.to_read(self.resource, updated)

    def delete(self, document_id: str, *, versions: Sequence[int] | None = None) -> Steps[None]:
        """Delete the document, only at one of `versions` when given.

        Raises:
            NotFoundError: no document has this id.
            PreconditionFailedError: its version is not in `versions`.
        """
        wanted = documents.id_filter(self.resource, document_id, versions)
        result = yield DOCUMENTS, _call("delete_one", wanted)
        if result.deleted_count == 0:
            yield from self._raise_missing_or_changed(document_id)

    def _raise_unreadable(self, document_id: str, refusal: OperationFailure) -> Steps[NoReturn]:
        """After MongoDB refused to update a document, raise the error that names what is wrong.

        Raises:
            UnreadableDocumentError: the stored document fails `resource.document` (the
                model its collection validator is derived from).
            NotFoundError: the document is gone.
            OperationFailure: `refusal` again, when the stored document is sound: the
                validator and the model disagree, which no request can fix.
        """
        stored = yield DOCUMENTS, _call("find_one", documents.id_filter(self.resource, document_id))
        if stored is None:
            raise NotFoundError(self.resource.name, document_id)
        documents.check_stored(self.resource, stored)
        raise refusal

    def _raise_missing_or_changed(self, document_id: str) -> Steps[NoReturn]:
        """After a guarded write matched nothing, raise the error that explains why."""
        wanted = documents.id_filter(self.resource, document_id)
        found = yield DOCUMENTS, _call("find_one", wanted, {"_id": 1})
        if found is None:
            raise NotFoundError(self.resource.name, document_id)
        raise PreconditionFailedError(self.resource.name, document_id)

    def _duplicate(self, exc: DuplicateKeyError, values: dict[str, Any]) -> DuplicateError:
        """Return the `DuplicateError` a unique index's refusal of `values` means.

        The server names the index's key and value (`keyValue`, MongoDB 4.2+); without
        it, the first unique field among `values` is named.
        """
        taken = (exc.details or {}).get("keyValue") or {}
        for field in self.resource.unique:
            if field in taken:
                return DuplicateError(self.resource.name, taken[field], field)
        field = next((f for f in self.resource.unique if f in values), "name")
        return DuplicateError(self.resource.name, values.get(field), field)


def _call(method: str, *arguments: Any, **options: Any) -> Callable[[Any], Any]:
    """Return the call of collection method `method` with these arguments (made later)."""
    return lambda collection: getattr(collection, method)(*arguments, **options)


def _find(filter_: dict[str, Any], **options: Any) -> Callable[[Any], Any]:
    """Return the call that reads the matching documents as a list (at most `limit`)."""
    return lambda collection: collection.find(filter_, **options).to_list(options["limit"])


def run(steps: Steps[T], collections: Mapping[str, Any]) -> T:
    """Make the calls `steps` yields with a sync driver, in order; return its result.

    Each call's result is sent back into `steps`; a call's exception is thrown in, where
    the operation may handle it (a duplicate key) or let it out. The async twin is
    FastAPI's `repository.Repository.run` (the same loop, awaiting each call).

    Args:
        steps: An operation of `Store`.
        collections: The collection for each target (`DOCUMENTS`, `KEYS`).

    Raises:
        pymongo.errors.PyMongoError: a call failed and the operation did not handle it;
            and the operation's own domain errors (`errors`).
    """
    result: Any = None
    error: Exception | None = None
    while True:
        try:
            target, call = steps.send(result) if error is None else steps.throw(error)
        except StopIteration as done:
            value: T = done.value
            return value
        try:
            result, error = call(collections[target]), None
        except Exception as exc:
            result, error = None, exc


def stores(resources: Sequence[Resource], settings: Settings) -> dict[str, Store]:
    """Return one store per resource, by name, configured by `settings`."""
    secret = settings.cursor_secret
    cursor_key = cursors.signing_key(None if secret is None else secret.get_secret_value())
    return {
        resource.name: Store(
            resource,
            key_lease_ms=settings.idempotency_lease_ms,
            key_retention_s=settings.idempotency_retention_seconds,
            cursor_key=cursor_key,
        )
        for resource in resources
    }
