"""Items: what the service stores. Declared here; `core.crud` does the rest.

Change the fields in `Item` (what a client sends), and what is unique, sortable and
filterable in `ITEMS`; the models, the collection's validator and indexes, the routes
and the OpenAPI document follow. A change to stored documents needs a migration
(`migrations/`, see the README's recipes).
"""

from ...core.crud import Fields, Filter, Resource
from ...core.schemas import Description, Name, Tag, Tags


class Item(Fields):
    """An item: what a client sends to create one (`POST /api/v1/items`)."""

    name: Name
    description: Description | None = None
    tags: Tags = []


ITEMS = Resource(
    Item,
    plural="items",
    unique=("name",),
    sorts=("name",),
    filters={"tag": Filter("tags", Tag)},
)
"""The items resource: `/api/v1/items`, a unique name, sorted by name or age, by tag."""
