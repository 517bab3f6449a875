"""Every query a resource's routes send is served by an index in sort order (`explain`).

On every resource shape. Each query is built by the same `documents` functions the
store calls and run with the index the store names (`documents.index_for`, as `hint`).

Checked on every server, as a reader of `explain` would: the winning plan holds no
COLLSCAN and scans that index, and the index's key pattern serves the shape: the
filter's equality fields first, then the sort's keys in order, each key's direction
the sort's or each one reversed (MongoDB manual, "The ESR (Equality, Sort, Range)
Guideline" and "Use Indexes to Sort Query Results"). An index walk then yields the
sort order, so mongod needs no in-memory sort. A plan that has no SORT stage walks the
index in the sort's direction. An If-Match write's filter (`{_id, version: {$in}}`)
reads one key of the `_id` index.

Checked only against mongod: that the plan really has no blocking SORT stage, and
that the If-Match filter is planned on the `_id` index without a hint. SecantusDB, the
embedded test server, plans more simply: it sorts in memory whenever the sort has two
keys and the query has a filter or a hint (every keyset continuation and every page,
which names its index), or the index is multikey (a list field); and it scans the
collection
for `_id` plus another field. On SecantusDB those two tests skip, saying so. They run
in this project's CI (`.github/workflows/ci.yml` tests on a `mongo:8.0` service) and
wherever `TEST_MONGO_URI` points at a mongod.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection

from {{ cookiecutter.package_name }}.core.crud import documents
from {{ cookiecutter.package_name }}.core.crud.cursors import signing_key
from {{ cookiecutter.package_name }}.core.crud.models import ListQuery
from {{ cookiecutter.package_name }}.core.settings import Settings

from tests.shapes import Shape

KEY = signing_key(None)
PER_PAGE = 2
PLANNER_SKIP = (
    "mongod's planner only: SecantusDB sorts in memory and scans for _id plus another field "
    "(see this module's docstring); the project's CI runs it on mongo:8.0"
)
Find = tuple[dict[str, Any], list[tuple[str, int]] | None, int, str | None]
"""A find as the service sends it: filter, sort, skip, hint."""


@pytest.fixture
def collection(shape: Shape, settings: Settings) -> Iterator[Collection[dict[str, Any]]]:
    """Yield the shape's collection, migrated (indexes from its migration), with 5 documents.

    Each matches every filter of the shape, so a filtered list finds them all.
    """
    resource = shape.resource
    overrides = {key: value for made, _ in shape.filtered.values() for key, value in made.items()}
    client: MongoClient[dict[str, Any]]
    with MongoClient(settings.mongo_uri.get_secret_value(), tz_aware=True) as client:
        stored: Collection[dict[str, Any]] = client[settings.mongo_database][resource.collection]
        stored.insert_many(
            documents.new_document(
                resource, resource.create.model_validate(shape.body(**overrides))
            )
            for _ in range(5)
        )
        yield stored


def queries(shape: Shape) -> list[ListQuery]:
    """Return each sort, in both directions, without a filter and with each one."""
    resource = shape.resource
    filters: list[dict[str, str]] = [
        {},
        *({param: value} for param, (_, value) in shape.filtered.items()),
    ]
    found: list[Any] = [
        resource.query.model_validate({"sort": sort, "per_page": PER_PAGE, **given})
        for key in resource.sorts
        for sort in (key, f"-{key}")
        for given in filters
    ]
    return found


def label(query: ListQuery, shape: Shape) -> str:
    """Name a query: its sort and its filter."""
    given = [f"{param}" for param in shape.filtered if getattr(query, param) is not None]
    return f"{query.sort}-{'-'.join(given) or 'all'}"


def list_find(
    collection: Collection[dict[str, Any]], shape: Shape, query: ListQuery, *, continued: bool
) -> Find:
    """Return the find of one list page: the second (`page=2`), or one past a real cursor."""
    resource = shape.resource
    if not continued:
        paged: Any = resource.query.model_validate({**_params(query, shape), "page": 2})
        skip = (paged.page - 1) * paged.per_page
        hint = documents.index_for(resource, paged)
        return (
            documents.list_filter(resource, paged),
            documents.sort_spec(resource, paged),
            skip,
            hint,
        )
    first = collection.find(
        documents.list_filter(resource, query),
        sort=documents.sort_spec(resource, query),
        limit=PER_PAGE + 1,
    ).to_list()
    page: Any = documents.to_page(resource, query, first, None, KEY)
    assert page.next is not None
    cursor: Any = resource.query.model_validate({"cursor": page.next, "per_page": PER_PAGE})
    continued_query, after = documents.continue_from(resource, cursor, KEY)
    return (
        documents.page_filter(resource, continued_query, after),
        documents.sort_spec(resource, continued_query),
        0,
        documents.index_for(resource, continued_query),
    )


def _params(query: ListQuery, shape: Shape) -> dict[str, Any]:
    """Return the query's parameters (sort, per_page and the filters given)."""
    given = {
        param: getattr(query, param)
        for param in shape.filtered
        if getattr(query, param) is not None
    }
    return {"sort": query.sort, "per_page": query.per_page, **given}


def stages(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every stage of a plan, outermost first."""
    yield plan
    for child in [plan.get("inputStage"), plan.get("queryPlan"), *plan.get("inputStages", [])]:
        if child:
            yield from stages(child)


def explain(collection: Collection[dict[str, Any]], find: Find) -> dict[str, Any]:
    """Return the explain output of `find`, run with `limit` per_page + 1."""
    filter_, sort, skip, hint = find
    cursor = collection.find(filter_, sort=sort, skip=skip, limit=PER_PAGE + 1)
    if hint is not None:
        cursor = cursor.hint(hint)
    explained: dict[str, Any] = cursor.explain()
    return explained


def winning_plan(collection: Collection[dict[str, Any]], find: Find) -> list[dict[str, Any]]:
    """Return the stages of the winning plan of `find`, outermost first."""
    return list(stages(explain(collection, find)["queryPlanner"]["winningPlan"]))


def equality_fields(filter_: dict[str, Any]) -> set[str]:
    """Return the fields `filter_` matches by equality (a value, not an operator document)."""
    return {
        field
        for field, value in filter_.items()
        if not field.startswith("$")
        and not (isinstance(value, dict) and any(key.startswith("$") for key in value))
    }


def walk_direction(
    key_pattern: dict[str, int], filter_: dict[str, Any], sort: list[tuple[str, int]]
) -> str | None:
    """Return how an index walk yields `sort` ("forward" or "backward"), or None if none does.

    The key pattern must hold the filter's equality fields first (in any order), then
    the sort's keys in order, with every direction the sort's or every one reversed.
    """
    fields = list(key_pattern)
    prefix = equality_fields(filter_)
    if set(fields[: len(prefix)]) != prefix:
        return None
    after = fields[len(prefix) : len(prefix) + len(sort)]
    if after != [field for field, _ in sort]:
        return None
    signs = {key_pattern[field] * direction for field, direction in sort}
    if len(signs) != 1:
        return None
    return "forward" if signs == {1} else "backward"


def is_secantus(collection: Collection[dict[str, Any]]) -> bool:
    """Return True when the server is SecantusDB (its explain names itself as host)."""
    explained = collection.find({}).limit(1).explain()
    return bool(explained.get("serverInfo", {}).get("host") == "secantus")


@pytest.mark.parametrize("continued", [False, True], ids=["page", "cursor"])
def test_each_list_query_scans_an_index_whose_key_order_is_its_sort(
    collection: Collection[dict[str, Any]], shape: Shape, continued: bool
) -> None:
    for query in queries(shape):
        filter_, sort, skip, hint = list_find(collection, shape, query, continued=continued)
        assert sort is not None
        plan = winning_plan(collection, (filter_, sort, skip, hint))
        where = (label(query, shape), plan)
        assert "COLLSCAN" not in [stage["stage"] for stage in plan], where
        [ixscan] = [stage for stage in plan if stage["stage"] == "IXSCAN"]
        assert ixscan["indexName"] == hint, where
        direction = walk_direction(ixscan["keyPattern"], filter_, sort)
        assert direction is not None, (ixscan["keyPattern"], filter_, sort)
        if "SORT" not in [stage["stage"] for stage in plan]:
            assert ixscan["direction"] == direction, where


def test_no_list_query_needs_a_blocking_sort_on_mongod(
    collection: Collection[dict[str, Any]], shape: Shape
) -> None:
    if is_secantus(collection):
        pytest.skip(PLANNER_SKIP)
    with_sort_stage = {}
    for query in queries(shape):
        for continued in (False, True):
            plan = winning_plan(
                collection, list_find(collection, shape, query, continued=continued)
            )
            if "SORT" in [stage["stage"] for stage in plan]:
                with_sort_stage[(label(query, shape), continued)] = plan
    assert not with_sort_stage, with_sort_stage


def test_reads_of_one_document_by_id_or_a_unique_field_are_served_by_an_index(
    collection: Collection[dict[str, Any]], shape: Shape
) -> None:
    stored = collection.find_one({})
    assert stored is not None
    filters = [
        documents.id_filter(shape.resource, str(stored["_id"])),
        *({field: stored[field]} for field in shape.resource.unique),
    ]
    for filter_ in filters:
        plan = winning_plan(collection, (filter_, None, 0, None))
        assert "COLLSCAN" not in [stage["stage"] for stage in plan], (filter_, plan)


def test_an_if_match_filter_reads_one_key_of_the_id_index(
    collection: Collection[dict[str, Any]], shape: Shape
) -> None:
    stored = collection.find_one({})
    assert stored is not None
    filter_ = documents.id_filter(shape.resource, str(stored["_id"]), [1, 2])
    explained = explain(collection, (filter_, None, 0, "_id_"))
    [ixscan] = [
        stage
        for stage in stages(explained["queryPlanner"]["winningPlan"])
        if stage["stage"] == "IXSCAN"
    ]
    assert ixscan["indexName"] == "_id_"
    assert explained["executionStats"]["totalKeysExamined"] == 1, explained["executionStats"]
    assert explained["executionStats"]["nReturned"] == 1, explained["executionStats"]


def test_an_if_match_filter_is_planned_on_the_id_index_on_mongod(
    collection: Collection[dict[str, Any]], shape: Shape
) -> None:
    if is_secantus(collection):
        pytest.skip(PLANNER_SKIP)
    stored = collection.find_one({})
    assert stored is not None
    filter_ = documents.id_filter(shape.resource, str(stored["_id"]), [1, 2])
    plan = winning_plan(collection, (filter_, None, 0, None))
    assert "COLLSCAN" not in [stage["stage"] for stage in plan], plan
