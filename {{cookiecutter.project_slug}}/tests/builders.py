"""Test data builders: valid request bodies, unique per call."""

import itertools
from typing import Any

_counter = itertools.count(1)


def item_body(**overrides: Any) -> dict[str, Any]:
    """Return a valid create body with a unique name; `overrides` replace fields."""
    body: dict[str, Any] = {
        "name": f"item-{next(_counter)}",
        "description": "A test item.",
        "tags": ["test"],
    }
    body.update(overrides)
    return body
