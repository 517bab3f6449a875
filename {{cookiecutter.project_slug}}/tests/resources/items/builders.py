"""Item test data builders: valid request bodies, unique per call, and stored records."""

import itertools
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection

from {{ cookiecutter.package_name }}.clock import utcnow
from {{ cookiecutter.package_name }}.idempotency import fingerprint, new_record
from {{ cookiecutter.package_name }}.items.documents import COLLECTION, new_document
from {{ cookiecutter.package_name }}.items.schemas import ItemCreate
from {{ cookiecutter.package_name }}.settings import Settings

_counter = itertools.count(1)


def item_body(**overrides: Any) -> dict[str, Any]:
    """Return a valid create body with a unique name; `overrides` replace fields."""
    body: dict[str, Any] = {
        "name": f"item-{next(_counter)}",
        "description": "A test item.",
        "tags": ["test"],
    }
    body.update(overrides)
    return body


def key_record(key: str, body: dict[str, Any], *, lease_s: float) -> dict[str, Any]:
    """Return an `Idempotency-Key` record for `body` left in flight, as a crash leaves it.

    Its lease ends `lease_s` seconds from now (negative: already expired).
    """
    digest = fingerprint(ItemCreate.model_validate(body).model_dump())
    return new_record(
        COLLECTION, key, digest, utcnow(), lease_ms=int(lease_s * 1000), retention_s=3600
    )


def store_unreadable(settings: Settings, *, removed: tuple[str, ...] = (), **fields: Any) -> str:
    """Store an item document with `fields` set and `removed` left out, straight through pymongo.

    As a hand fix or an old release would: past the service and its validator
    (`bypass_document_validation`). Return the new document's id.
    """
    document = new_document(ItemCreate.model_validate(item_body()))
    document.update(fields)
    for name in removed:
        del document[name]
    client: MongoClient[dict[str, Any]]
    with MongoClient(settings.mongo_uri.get_secret_value()) as client:
        items: Collection[dict[str, Any]] = client[settings.mongo_database][COLLECTION]
        inserted = items.insert_one(document, bypass_document_validation=True)
    return str(inserted.inserted_id)
