"""Create the indexes of the `Idempotency-Key` records (a TTL index deletes expired ones)."""

from pymongo.database import Database

from ..crud import idempotency
from .operations import Document, create_indexes


def upgrade(db: Database[Document]) -> None:
    """Create `idempotency.INDEXES` on the records' collection."""
    create_indexes(db, idempotency.COLLECTION, idempotency.INDEXES)


def downgrade(db: Database[Document]) -> None:
    """Drop those indexes again (records then stay until deleted by hand)."""
    for _, options in idempotency.INDEXES:
        db[idempotency.COLLECTION].drop_index(options["name"])
