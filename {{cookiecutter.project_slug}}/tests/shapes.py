"""The resources the core's tests run on: every registered one, and one with no string field.

A resource's tests package (`tests/resources/<plural>/builders.py`) describes it with a
`Shape`: how to make a valid body, a change, bodies it refuses, a value per filter. The
core's tests (`tests/core/crud/`) run once per shape, so every mechanism is proved on
the example resource, on each resource a team adds, and on `READINGS`: numbers, a flag
and a list of integers, not a single string, so nothing in the core may assume a
`name` or a string key.
"""

import importlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field

from {{ cookiecutter.package_name }}.core.crud import Fields, Filter, Resource
from {{ cookiecutter.package_name }}.resources import RESOURCES

Body = dict[str, object]


@dataclass(frozen=True)
class Shape:
    """How the core's tests make data of one resource."""

    resource: Resource
    body: Callable[..., Body]
    """`body(**overrides)`: a valid create body, unique per call, sorting after the last."""
    change: Body
    """A valid PATCH body that changes a field of any `body()`."""
    invalid: list[Body]
    """Create bodies the resource's own rules refuse (422), besides the core's cases."""
    filtered: dict[str, tuple[Body, str]] = field(default_factory=dict)
    """Per filter parameter: overrides that make a body match, and the query value."""

    def __str__(self) -> str:
        """Name the shape by its resource's plural (the test ids)."""
        return self.resource.plural


def counter() -> Iterator[int]:
    """Return a counter from 1, for bodies that are unique per call."""
    return itertools.count(1)


class Reading(Fields):
    """A sensor reading: numbers, a flag and a list of numbers; no string field at all."""

    sensor: Annotated[int, Field(strict=True, ge=0, le=10**9)]
    # Bounded: MongoDB's validator cannot refuse NaN or infinity by type, only by range.
    value: Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)]
    ok: bool = True
    samples: Annotated[list[Annotated[int, Field(strict=True)]], Field(max_length=10)] = []


READINGS = Resource(
    Reading,
    plural="readings",
    unique=("sensor",),
    sorts=("sensor", "value"),
    filters={"ok": Filter("ok", bool)},
)
"""A resource the tests declare (never served by the service itself)."""

_readings = counter()


def reading(**overrides: object) -> Body:
    """Return a valid reading with a sensor number above every earlier one's."""
    number = next(_readings)
    return {"sensor": number, "value": number + 0.5, "samples": [number], **overrides}


READINGS_SHAPE = Shape(
    READINGS,
    reading,
    change={"value": -1.25},
    invalid=[
        {"sensor": -1, "value": 1.0},
        {"sensor": "1", "value": 1.0},
        {"sensor": 1, "value": "nan"},
        {"sensor": 1, "value": 1.0, "samples": [1.5]},
        {"sensor": 1, "value": 1.0, "samples": list(range(11))},
        {"sensor": 1},
    ],
    filtered={"ok": ({"ok": False}, "false")},
)


def registered_shapes() -> list[Shape]:
    """Return the shape of every registered resource (from its tests' `builders.SHAPE`)."""
    found: list[Shape] = []
    for resource in RESOURCES:
        builders = importlib.import_module(f"tests.resources.{resource.plural}.builders")
        found.append(builders.SHAPE)
    return found


SHAPES = [*registered_shapes(), READINGS_SHAPE]
"""Every shape the core's tests run on."""
SERVED = tuple(shape.resource for shape in SHAPES)
"""The resources the tests' app serves: the registered ones and `READINGS`."""
