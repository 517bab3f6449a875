"""MongoDB client lifecycle with PyMongo's native asyncio API (`AsyncMongoClient`).

The client is bound to the event loop it first runs on, so the app's lifespan creates
it (never at import time) and closes it on shutdown.
"""

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from .settings import Settings

Document = dict[str, Any]
Client = AsyncMongoClient[Document]
Database = AsyncDatabase[Document]
Collection = AsyncCollection[Document]


def create_client(settings: Settings) -> Client:
    """Return a client for `settings.mongo_uri`; it connects lazily, on first use."""
    return AsyncMongoClient(
        settings.mongo_uri.get_secret_value(), **settings.mongo_client_options()
    )


async def close_client(client: Client) -> None:
    """Close the client's connections (a coroutine in PyMongo's async API)."""
    await client.close()
