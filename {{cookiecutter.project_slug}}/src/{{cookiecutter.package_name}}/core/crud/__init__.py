"""The resource core: every mechanism a resource gets from its declaration.

A resource is declared once, in its package under `resources/`: a `Fields` class (what a
client sends) and a `Resource` (plural, unique fields, sorts, filters). From it come:

- `spec`, `models`: the declaration and the models derived from it (create, update,
  read, stored document, page, query), the collection's validator (`bson_schema`) and
  indexes;
- `documents`: the mapping between the API and MongoDB (new documents, the read model,
  filters, stable sorts, keyset cursors (`cursors`), pages, update specifications);
- `store`: the operations (list, get, create with `Idempotency-Key` (`idempotency`),
  replace, update and delete guarded by versions (`etags`)), written once for both
  drivers; `repository`: runs them with the framework's driver under one deadline;
- `routes`: the framework's routes for a resource, documented in OpenAPI; `texts`: what
  the document says of them.

Nothing here names a resource; template updates (`cruft update`) keep it current.
"""

from .models import Fields
from .spec import Filter, Resource

__all__ = ["Fields", "Filter", "Resource"]
