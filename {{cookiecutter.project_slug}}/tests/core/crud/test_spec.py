"""A resource's declaration and what derives from it: models, indexes, refusals (`spec`)."""

from datetime import datetime
from typing import Annotated

import pytest
from pydantic import Field, ValidationError

from {{ cookiecutter.package_name }}.core.crud import Fields, Filter, Resource
from {{ cookiecutter.package_name }}.core.crud.spec import refuse_shared

from tests.shapes import READINGS, Reading, Shape


def test_the_names_derive_from_the_fields_class_and_the_plural(shape: Shape) -> None:
    resource = shape.resource
    camel = resource.fields.__name__
    assert resource.path == f"/api/v1/{resource.plural}"
    assert resource.one_path == resource.path + "/{" + resource.name + "_id}"
    assert [model.__name__ for model in (resource.create, resource.read, resource.page)] == [
        f"{camel}Create",
        f"{camel}Read",
        f"{camel}Page",
    ]


def test_the_read_model_has_id_every_field_plainly_then_timestamps_and_version(
    shape: Shape,
) -> None:
    fields = list(shape.resource.fields.model_fields)
    read = shape.resource.read.model_json_schema()
    assert list(read["properties"]) == ["id", *fields, "created_at", "updated_at", "version"]
    assert read["required"] == list(read["properties"])


def test_an_update_may_clear_nullable_fields_and_omit_any_but_not_be_empty(shape: Shape) -> None:
    update = shape.resource.update
    assert update.model_validate(shape.change).model_dump(exclude_unset=True) == shape.change
    for body in ({}, {"version": 2}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            update.model_validate(body)


def test_every_list_query_is_served_by_a_declared_index(shape: Shape) -> None:
    resource = shape.resource
    names = {options["name"] for _, options in resource.indexes}
    filtered = [None, *(flt.field for flt in resource.filters.values())]
    for field in filtered:
        for sort in resource.sorts:
            assert resource.index_name(sort, field) in names


def test_the_indexes_of_a_resource_with_a_unique_sort_and_a_filter() -> None:
    assert [(keys, options["name"]) for keys, options in READINGS.indexes] == [
        ([("sensor", 1)], "sensor_unique"),
        ([("created_at", 1), ("_id", 1)], "created_at_id"),
        ([("value", 1), ("_id", 1)], "value_id"),
        ([("ok", 1), ("created_at", 1), ("_id", 1)], "ok_created_at_id"),
        ([("ok", 1), ("sensor", 1)], "ok_sensor"),
        ([("ok", 1), ("value", 1), ("_id", 1)], "ok_value_id"),
    ]


class Note(Fields):
    """A resource declared wrongly in each test below."""

    text: str
    remark: str | None = None
    when: datetime
    tags: list[str] = []
    size: Annotated[int, Field(ge=0)] = 0


@pytest.mark.parametrize(
    ("declaration", "says"),
    [
        ({"unique": ("missing",)}, "'missing', which is not one of its fields"),
        ({"sorts": ("remark",)}, "'remark' may be null"),
        ({"unique": ("remark",)}, "'remark' may be null"),
        ({"sorts": ("tags",)}, "'tags' is not of a type a list can be sorted by"),
        ({"filters": {"x": Filter("missing", str)}}, "'missing', which is not one of its fields"),
        ({"plural": "Notes"}, "the plural 'Notes' is not snake_case"),
    ],
)
def test_a_declaration_the_core_cannot_serve_is_refused_naming_the_mistake(
    declaration: dict[str, object], says: str
) -> None:
    arguments: dict[str, object] = {"plural": "notes", **declaration}
    with pytest.raises(ValueError, match=says):
        Resource(Note, **arguments)  # type: ignore[arg-type]


def test_a_sortable_declaration_is_accepted() -> None:
    notes = Resource(Note, plural="notes", sorts=("when", "size", "text"))
    assert notes.sorts == ("created_at", "when", "size", "text")


def test_two_resources_may_not_share_a_name_plural_or_collection() -> None:
    again = Resource(Reading, plural="more_readings")
    with pytest.raises(ValueError, match="share the name 'reading'"):
        refuse_shared([READINGS, again])
    other = Resource(Note, plural="readings")
    with pytest.raises(ValueError, match="share the plural 'readings'"):
        refuse_shared([READINGS, other])
