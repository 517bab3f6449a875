"""Create the items collection with its validator and indexes.

No downgrade: undoing it would drop the collection and every item in it.
"""

from pymongo.database import Database

from ....core.migrations.operations import Document, create_resource
from .. import ITEMS


def upgrade(db: Database[Document]) -> None:
    """Create the `items` collection (validator, then indexes)."""
    create_resource(db, ITEMS)
