"""Stored-document models become `$jsonSchema` validators MongoDB enforces as pydantic does."""

import re
from datetime import datetime
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from {{ cookiecutter.package_name }}.core.crud.bson_schema import ObjectIdField, portable_pattern, validator
from {{ cookiecutter.package_name }}.core.schemas import VISIBLE_PATTERN


class Size(BaseModel):
    """A nested model."""

    model_config = ConfigDict(extra="forbid")

    width: Annotated[int, Field(strict=True, gt=0, le=10)]


class Stored(BaseModel):
    """A stored document using every kind of field the converter knows."""

    model_config = ConfigDict(strict=True, extra="forbid")

    id: ObjectIdField = Field(alias="_id")
    when: datetime
    status: Literal["draft", "active"] = "active"
    size: Size | None = None
    code: Annotated[str, Field(pattern=r"^[a-z]+$")] | None = None


def test_a_model_becomes_bson_types_bounds_and_a_closed_object() -> None:
    schema = validator(Stored)["$jsonSchema"]
    fields = schema["properties"]
    assert (schema["bsonType"], schema["additionalProperties"]) == ("object", False)
    assert schema["required"] == ["_id", "when"]  # a field with a default may be missing
    assert (fields["_id"], fields["when"]) == ({"bsonType": "objectId"}, {"bsonType": "date"})
    assert fields["status"] == {"bsonType": "string", "enum": ["draft", "active"]}
    assert fields["size"]["bsonType"] == ["object", "null"]
    assert fields["size"]["properties"]["width"] == {
        "bsonType": ["int", "long"],
        "minimum": 0,
        "exclusiveMinimum": True,  # draft 4, as MongoDB reads it
        "maximum": 10,
    }
    assert fields["code"] == {"bsonType": ["string", "null"], "pattern": "^[a-z]+\\z"}


def test_a_type_with_no_bson_equivalent_is_refused_not_dropped() -> None:
    class Mailbox(BaseModel):
        """A model with a format MongoDB cannot check."""

        email: Annotated[str, Field(json_schema_extra={"format": "email"})]

    with pytest.raises(ValueError, match="format 'email'"):
        validator(Mailbox)


def test_patterns_lose_the_escapes_pcre_lacks_and_match_the_same_strings() -> None:
    portable = portable_pattern(VISIBLE_PATTERN)
    assert "\\u" not in portable
    for char in ["a", " ", "\u200b", "\u3000", "\U0001f600", "\t", "\xa0", "\xad"]:
        assert bool(re.search(portable, char)) == bool(re.search(VISIBLE_PATTERN, char))
    assert portable_pattern(r"^a$|[$]\$") == r"^a\z|[$]\$"
