"""The service's resources: one package each, and THE list of them (`RESOURCES`).

Each package declares one resource (`resources/items/`); the app serves every
resource listed here, and the migrations runner finds each one's `migrations/`.
`make resource NAME=...` adds a package and its line.
"""

from .items import ITEMS

RESOURCES = (  # one line per resource
    ITEMS,
)
