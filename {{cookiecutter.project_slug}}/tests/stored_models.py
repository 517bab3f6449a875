"""Documents to test a collection validator with, made from a stored model's JSON schema.

Made from the model's own schema (`model_json_schema()`), not from the validator under
test, so a field added to the model is explored with no edit to the tests: valid
documents, every value at and just past each bound or of another BSON type, and random
changes (a field removed, added or replaced by any BSON value).
"""

from datetime import datetime
from typing import Any

from bson import ObjectId
from hypothesis import strategies as st
from pydantic import BaseModel


class _Missing:
    """Stands for "remove this field" in a change."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
WRONG_TYPES: list[Any] = [None, True, 1, 1.5, "x", [], {}, datetime(2026, 1, 1), ObjectId()]
"""One value of each BSON type: every field refuses most of them."""


def changed(document: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Return `document` with `changes` applied in place (a MISSING value removes the key)."""
    for key, value in changes.items():
        if value is MISSING:
            document.pop(key, None)
        else:
            document[key] = value
    return document


class ModelCases:
    """Valid documents, documents at each bound, and random changes, for one stored model."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.schema = model.model_json_schema()
        keys = st.sampled_from([*self.schema["properties"], "extra"])
        any_value = st.recursive(
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(min_value=-(2**63), max_value=2**63 - 1),
                st.floats(allow_nan=False),
                st.text(max_size=20),
                st.datetimes(),
                st.builds(ObjectId),
            ),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner),
            max_leaves=5,
        )
        self.changes = st.dictionaries(keys, st.just(MISSING) | any_value, max_size=1)
        """At most one field removed, added or replaced by any BSON value."""

    def valid(self) -> st.SearchStrategy[dict[str, Any]]:
        """Return documents the model accepts."""
        return self._valid(self.schema)

    def at_bounds(self) -> list[dict[str, Any]]:
        """Return documents with one field at or just past a bound, missing, or mistyped."""
        return [case for case in self._edges(self.schema) if isinstance(case, dict)]

    def _resolved(self, node: dict[str, Any]) -> dict[str, Any]:
        """Return `node`, or the definition it refers to."""
        while "$ref" in node:
            node = self.schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        return node

    def _valid(self, node: dict[str, Any]) -> st.SearchStrategy[Any]:
        """Return values that the JSON schema `node` accepts."""
        node = self._resolved(node)
        if "anyOf" in node:
            return st.one_of(*map(self._valid, node["anyOf"]))
        if "enum" in node or "const" in node:
            return st.sampled_from(node.get("enum", [node.get("const")]))
        kind: str = node.get("type", node.get("bsonType", ""))
        if kind == "integer":
            low = node.get("minimum", node.get("exclusiveMinimum", -(2**31) - 1) + 1)
            high = node.get("maximum", node.get("exclusiveMaximum", 2**31) - 1)
            return st.integers(min_value=low, max_value=high)
        if kind == "number":
            return st.floats(
                min_value=node.get("minimum", node.get("exclusiveMinimum")),
                max_value=node.get("maximum", node.get("exclusiveMaximum")),
                exclude_min="exclusiveMinimum" in node,
                exclude_max="exclusiveMaximum" in node,
                allow_nan=False,
                allow_infinity=False,
            )
        if kind == "string" and node.get("format") != "date-time":
            sizes = (node.get("minLength", 0), node.get("maxLength", 30))
            texts = st.from_regex(node["pattern"]) if "pattern" in node else st.text()
            return texts.filter(lambda text: sizes[0] <= len(text) <= sizes[1])
        if kind == "array":
            return st.lists(
                self._valid(node["items"]),
                min_size=node.get("minItems", 0),
                max_size=node.get("maxItems", 3),
            )
        if kind == "object":
            fields = node["properties"]
            required = node.get("required", [])
            return st.fixed_dictionaries(
                {key: self._valid(fields[key]) for key in required},
                optional={
                    key: self._valid(sub) for key, sub in fields.items() if key not in required
                },
            )
        return {
            "string": st.datetimes(),  # format date-time: a BSON date
            "objectId": st.builds(ObjectId),
            "boolean": st.booleans(),
            "null": st.none(),
        }[kind]

    def _simplest(self, node: dict[str, Any]) -> Any:
        """Return one value that the JSON schema `node` accepts (the simplest)."""
        node = self._resolved(node)
        if "anyOf" in node:
            return self._simplest(node["anyOf"][0])
        if "enum" in node or "const" in node:
            return node.get("enum", [node.get("const")])[0]
        kind: str = node.get("type", node.get("bsonType", ""))
        if kind == "integer":
            return node.get("minimum", node.get("exclusiveMinimum", -1) + 1)
        if kind == "number":
            return float(node.get("minimum", node.get("exclusiveMinimum", -1) + 1))
        if kind == "string" and node.get("format") != "date-time":
            return "x" * max(node.get("minLength", 0), 1)
        if kind == "array":
            return [self._simplest(node["items"])] * node.get("minItems", 0)
        if kind == "object":
            fields = node["properties"]
            return {key: self._simplest(fields[key]) for key in node.get("required", [])}
        return {"string": datetime(2026, 1, 1), "objectId": ObjectId(), "boolean": False}.get(kind)

    def _edges(self, node: dict[str, Any]) -> list[Any]:
        """Return values at and just past each bound of `node`, and of every BSON type."""
        node = self._resolved(node)
        cases: list[Any] = [*WRONG_TYPES]
        for option in node.get("anyOf", []):
            cases += self._edges(option)
        for n in _around(node, "minLength", "maxLength"):
            cases += ["x" * n, "\u200b" * n]
        for n in _around(node, "minItems", "maxItems"):
            cases.append([self._simplest(node["items"])] * n)
        if "items" in node:
            cases += [[case] for case in self._edges(node["items"])]
        cases += _around(node, "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
        fields = node.get("properties", {})
        if fields:
            simplest = self._simplest(node)
            for key, sub in fields.items():
                cases.append({name: value for name, value in simplest.items() if name != key})
                cases += [{**simplest, key: case} for case in self._edges(sub)]
            cases.append({**simplest, "extra": 1})
        return cases


def _around(node: dict[str, Any], *keywords: str) -> list[int]:
    """Return each bound of `node` under `keywords`, and one less and one more (>= 0)."""
    bounds = [node[key] for key in keywords if key in node]
    return sorted({bound + step for bound in bounds for step in (-1, 0, 1)} - {-1})
