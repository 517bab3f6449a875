"""Item test data: valid bodies, unique per call, for the core's tests and the items' own."""

import {{ cookiecutter.package_name }}.resources.items as declared

from tests.shapes import Shape, counter

_next = counter()


def body(**overrides: object) -> dict[str, object]:
    """Return a valid create body with a unique name; `overrides` replace fields.

    Names are numbered with leading zeros, so each sorts after the one before.
    """
    return {
        "name": f"item-{next(_next):06d}",
        "description": "A test item.",
        "tags": ["test"],
        **overrides,
    }


SHAPE = Shape(
    declared.ITEMS,
    body,
    change={"tags": ["changed"]},
    invalid=[
        {"name": {"$gt": ""}},
        {"name": ""},
        {"name": " \u200b"},
        {"name": "x" * 201},
        {"name": 42},
        {"name": "x", "tags": ["t"] * 21},
        {"name": "x", "tags": [""]},
        {"name": "x", "description": "d" * 2001},
    ],
    filtered={"tag": ({"tags": ["test", "warm"]}, "warm")},
)
