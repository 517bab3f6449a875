"""MongoDB client lifecycle with Motor (`AsyncIOMotorClient`).

Motor is deprecated upstream (critical fixes only until 2027-05-14); PyMongo's
`AsyncMongoClient` replaces it. The lifespan creates the client and closes it.
"""

from typing import Any

from motor.motor_asyncio import (
    AsyncIOMotorClient,
    AsyncIOMotorCollection,
    AsyncIOMotorDatabase,
)

from .settings import Settings

Document = dict[str, Any]
Client = AsyncIOMotorClient[Document]
Database = AsyncIOMotorDatabase[Document]
Collection = AsyncIOMotorCollection[Document]


def create_client(settings: Settings) -> Client:
    """Return a client for `settings.mongo_uri`; it connects lazily, on first use."""
    return AsyncIOMotorClient(
        settings.mongo_uri.get_secret_value(), **settings.mongo_client_options()
    )


async def close_client(client: Client) -> None:
    """Close the client's connections (a plain call in Motor)."""
    client.close()
