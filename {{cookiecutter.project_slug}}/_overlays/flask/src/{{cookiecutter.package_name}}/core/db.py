"""MongoDB client lifecycle with PyMongo's sync `MongoClient`, one per worker process.

`MongoClient` is thread-safe (the greenlets of a gevent worker share it; pymongo
supports gevent's monkey-patching) but not fork-safe, so the app
factory creates it inside each gunicorn worker (no `preload_app`) and it is closed
when the process exits.
"""

import atexit
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection as _Collection
from pymongo.database import Database as _Database

from .settings import Settings

Document = dict[str, Any]
Client = MongoClient[Document]
Database = _Database[Document]
Collection = _Collection[Document]


def create_client(settings: Settings) -> Client:
    """Return a client for `settings.mongo_uri`, closed automatically at process exit."""
    client: Client = MongoClient(
        settings.mongo_uri.get_secret_value(), **settings.mongo_client_options()
    )
    atexit.register(client.close)
    return client


def close_client(client: Client) -> None:
    """Close the client's connections."""
    client.close()
