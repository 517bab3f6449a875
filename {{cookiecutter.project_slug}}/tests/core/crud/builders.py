"""Stored data for the core's tests: key records left by a crash, documents the API refuses."""

from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection

from {{ cookiecutter.package_name }}.core.clock import utcnow
from {{ cookiecutter.package_name }}.core.crud.documents import new_document
from {{ cookiecutter.package_name }}.core.crud.idempotency import fingerprint, new_record
from {{ cookiecutter.package_name }}.core.settings import Settings

from tests.shapes import Shape


def key_record(shape: Shape, key: str, body: dict[str, Any], *, lease_s: float) -> dict[str, Any]:
    """Return an `Idempotency-Key` record for `body` left in flight, as a crash leaves it.

    Its lease ends `lease_s` seconds from now (negative: already expired).
    """
    digest = fingerprint(shape.resource.create.model_validate(body).model_dump())
    return new_record(
        shape.resource.collection,
        key,
        digest,
        utcnow(),
        lease_ms=int(lease_s * 1000),
        retention_s=3600,
    )


def store_unreadable(
    settings: Settings, shape: Shape, *, removed: tuple[str, ...] = (), **fields: Any
) -> str:
    """Store a document with `fields` set and `removed` left out, straight through pymongo.

    As a hand fix or an old release would: past the service and its validator
    (`bypass_document_validation`). Return the new document's id.
    """
    document = new_document(shape.resource, shape.resource.create.model_validate(shape.body()))
    document.update(fields)
    for name in removed:
        del document[name]
    client: MongoClient[dict[str, Any]]
    with MongoClient(settings.mongo_uri.get_secret_value()) as client:
        stored: Collection[dict[str, Any]] = client[settings.mongo_database][
            shape.resource.collection
        ]
        inserted = stored.insert_one(document, bypass_document_validation=True)
    return str(inserted.inserted_id)
