"""Turn a stored-document model (pydantic v2) into a MongoDB `$jsonSchema` validator.

A resource's `documents.py` declares the stored shape once, as a model, and derives its
collection's validator from it (`VALIDATOR = validator(<its model>)`), so the server
refuses any write the model would refuse: a script, an older release, a hand fix in
`mongosh`. The model's JSON schema (`model_json_schema()`) is translated node by node into
MongoDB's dialect (draft 4 plus `bsonType`): strings, whole numbers, booleans, lists,
nested models, `Literal` enums, nullable fields, datetimes (BSON dates) and `ObjectId`
(as `ObjectIdField`). A keyword or type it cannot translate raises `ValueError`: a
validator silently looser than its model would be worse than none.

Give the model `ConfigDict(strict=True, extra="forbid")`: strict, pydantic refuses what
BSON types tell apart (`1.0` or `True` for an int, a string for a date), and `forbid`
becomes `additionalProperties: false`.
"""

import re
from typing import Annotated, Any

from bson import ObjectId
from pydantic import BaseModel, PlainValidator, WithJsonSchema


def _object_id(value: object) -> ObjectId:
    """Return `value` when it is an ObjectId (a stored `_id`, never its hex string)."""
    if not isinstance(value, ObjectId):
        raise ValueError("Input should be an ObjectId")
    return value


ObjectIdField = Annotated[
    ObjectId, PlainValidator(_object_id), WithJsonSchema({"bsonType": "objectId"})
]
"""A BSON ObjectId field of a stored-document model (e.g. `_id`)."""

# JSON Schema's names -> BSON types. A JSON "integer" may be stored as int32 or int64.
_BSON_TYPES: dict[str, list[str]] = {
    "string": ["string"],
    "integer": ["int", "long"],
    "number": ["double", "int", "long"],
    "boolean": ["bool"],
    "array": ["array"],
    "object": ["object"],
    "null": ["null"],
}
# Keywords MongoDB enforces exactly as pydantic does, copied as they are.
_COPIED = frozenset(
    {"minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "uniqueItems"}
    | {"enum", "required"}
)
# Annotations only: nothing to enforce.
_DROPPED = frozenset({"title", "description", "default", "examples", "$defs"})


def validator(model: type[BaseModel]) -> dict[str, Any]:
    """Return the collection validator (`{"$jsonSchema": ...}`) enforcing `model`.

    Raises:
        ValueError: the model uses a type or constraint with no exact `$jsonSchema`
            equivalent (e.g. a `format` other than date-time); the message names it.
    """
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return {"$jsonSchema": _convert(schema, schema.get("$defs", {}))}


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Return the `$jsonSchema` form of one JSON schema `node` (`defs` resolves `$ref`)."""
    if "$ref" in node:
        return _convert(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in node:
        return _any_of([_convert(option, defs) for option in node["anyOf"]])
    if "const" in node:
        node = {**node, "enum": [node["const"]]}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or key == "const":
            continue
        if key == "type":
            out["bsonType"] = _bson_type(node)
        elif key == "bsonType":
            out["bsonType"] = value
        elif key == "format":
            _check_format(node)
        elif key in _COPIED:
            out[key] = value
        elif key == "pattern":
            out["pattern"] = portable_pattern(value)
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            # Draft 2020 gives the bound; MongoDB (draft 4) wants the bound and a flag.
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "items":
            out["items"] = _convert(value, defs)
        elif key == "properties":
            out["properties"] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "additionalProperties" and value is False:
            out["additionalProperties"] = False
        else:
            raise ValueError(f"no $jsonSchema equivalent for {key!r}: {value!r}")
    if "bsonType" in out:  # the type first, as people write it
        out = {"bsonType": out.pop("bsonType"), **out}
    return out


def _bson_type(node: dict[str, Any]) -> str | list[str]:
    """Return the BSON type(s) of a node with a JSON `type` (a datetime is a BSON date)."""
    if node.get("format") == "date-time":
        return "date"
    names = _BSON_TYPES[node["type"]]
    return names[0] if len(names) == 1 else names


def _check_format(node: dict[str, Any]) -> None:
    """Accept the one `format` a BSON type expresses (date-time); refuse any other."""
    if node["format"] != "date-time" or node.get("type") != "string":
        raise ValueError(f"no $jsonSchema equivalent for format {node['format']!r}")


def _any_of(options: list[dict[str, Any]]) -> dict[str, Any]:
    """Return a union: `X | None` becomes X with "null" added to its types."""
    others = [option for option in options if option != {"bsonType": "null"}]
    if len(others) == 1 and len(options) == 2 and "bsonType" in others[0]:
        # Each keyword applies only to values of its own type (strings, arrays, objects),
        # so X's constraints never refuse a null.
        merged = dict(others[0])
        types = merged["bsonType"]
        merged["bsonType"] = [*(types if isinstance(types, list) else [types]), "null"]
        return merged
    return {"anyOf": options}


# A \uXXXX escape (or an escaped backslash, kept as it is).
_ESCAPE = re.compile(r"\\\\|\\u([0-9a-fA-F]{4})")
# A `$` that is neither escaped nor inside a character class.
_END = re.compile(r"\\.|\[(?:\\.|[^\]\\])*\]|(\$)")


def portable_pattern(pattern: str) -> str:
    """Return `pattern` as MongoDB's PCRE reads it the way pydantic reads the original.

    Two differences are rewritten: PCRE has no `\\uXXXX` escape (the character is written
    as itself, or as `\\xXX` below U+0100), and PCRE's `$` also matches before a final
    newline where pydantic's (Rust) `$` does not (it becomes `\\z`, the very end).
    Keep patterns to what the three dialects share: classes, ranges, anchors,
    quantifiers, groups; no `\\d`/`\\w` (Unicode or ASCII depending on the engine).
    """

    def character(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)
        code = int(match.group(1), 16)
        return f"\\x{code:02x}" if code < 0x100 else chr(code)

    def end(match: re.Match[str]) -> str:
        return "\\z" if match.group(1) else match.group(0)

    return _END.sub(end, _ESCAPE.sub(character, pattern))
