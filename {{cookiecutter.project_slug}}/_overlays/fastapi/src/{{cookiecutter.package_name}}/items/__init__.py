"""The items resource: schemas, stored documents, repository and routes of `/api/v1/items`.

`ITEMS` describes it to the app (see `registry.RESOURCES`).
"""

from ..resources import Resource
from . import documents
from .repository import ItemRepository
from .routes import router

ITEMS = Resource(
    name="item",
    collection=documents.COLLECTION,
    validator=documents.VALIDATOR,
    indexes=documents.INDEXES,
    repository=ItemRepository,
    router=router,
)
