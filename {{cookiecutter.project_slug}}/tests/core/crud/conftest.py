"""Fixtures of the core's tests: one run per resource shape, a store on the test's database."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection

from {{ cookiecutter.package_name }}.core.crud import idempotency
from {{ cookiecutter.package_name }}.core.crud.store import DOCUMENTS, KEYS, Steps, Store, run
from {{ cookiecutter.package_name }}.core.settings import Settings

from tests.shapes import SHAPES, Shape

Document = dict[str, Any]


@pytest.fixture(params=SHAPES, ids=str)
def shape(request: pytest.FixtureRequest) -> Shape:
    """Return each resource shape in turn (`tests.shapes.SHAPES`)."""
    found: Shape = request.param
    return found


@dataclass
class SyncStore:
    """A resource's `Store`, its operations run with the sync driver (`store.run`)."""

    store: Store
    collection: Collection[Document]
    keys: Collection[Document]

    def run(self, steps: Steps[Any]) -> Any:
        """Run one operation against the test's database; return its result."""
        return run(steps, {DOCUMENTS: self.collection, KEYS: self.keys})

    def create(
        self,
        body: dict[str, object],
        *,
        idempotency_key: str | None = None,
        caller: str | None = None,
    ) -> Any:
        """Create a document from a raw body (validated as the route would)."""
        model = self.store.resource.create.model_validate(body)
        return self.run(self.store.create(model, idempotency_key=idempotency_key, caller=caller))

    def get(self, document_id: str) -> Any:
        """Return one document's read model."""
        return self.run(self.store.get(document_id))

    def get_all(self, **query: object) -> Any:
        """Return one page for `query` (validated as the route would)."""
        return self.run(self.store.get_all(self.store.resource.query.model_validate(query)))  # type: ignore[arg-type]

    def update(self, document_id: str, changes: dict[str, Any], **options: Any) -> Any:
        """Change a document; return its new read model."""
        return self.run(self.store.update(document_id, changes, **options))

    def delete(self, document_id: str, **options: Any) -> None:
        """Delete a document."""
        self.run(self.store.delete(document_id, **options))


@pytest.fixture
def repository(shape: Shape, settings: Settings) -> Iterator[SyncStore]:
    """Yield the shape's store on the test's database (migrated), with the service's options."""
    client: MongoClient[Document]
    with MongoClient(
        settings.mongo_uri.get_secret_value(), **settings.mongo_client_options()
    ) as client:
        database = client[settings.mongo_database]
        store = Store(
            shape.resource,
            key_lease_ms=settings.idempotency_lease_ms,
            key_retention_s=settings.idempotency_retention_seconds,
        )
        yield SyncStore(
            store, database[shape.resource.collection], database[idempotency.COLLECTION]
        )
