"""THE list of the service's resources: one import and one entry per resource.

Read by the app factory (routes), the start-up index creation and `/health/ready`.
`make resource NAME=...` adds a resource's lines here.
"""

from .items import ITEMS

RESOURCES = (  # one line per resource
    ITEMS,
)
