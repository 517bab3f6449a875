"""Every query the items API sends is served by an index in sort order (MongoDB `explain`).

Each shape is built by the same `documents` functions the repositories call and run
with the index the repository names (`documents.index_for`, sent as `hint`).

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
which names its index), or the index is multikey (`tags`); and it scans the collection
for `_id` plus another field. On SecantusDB those two tests skip, saying so. They run
in this project's CI (`.github/workflows/ci.yml` tests on a `mongo:8.0` service) and
wherever `TEST_MONGO_URI` points at a mongod.
"""

from collections.abc import Iterator
from typing import Any, get_args

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection

from {{ cookiecutter.package_name }}.cursors import signing_key
from {{ cookiecutter.package_name }}.items import documents
from {{ cookiecutter.package_name }}.items.schemas import ItemCreate, ItemQuery, SortKey
from {{ cookiecutter.package_name }}.settings import Settings

KEY = signing_key(None)
PER_PAGE = 2
PLANNER_SKIP = (
    "mongod's planner only: SecantusDB sorts in memory and scans for _id plus another field "
    "(see this module's docstring); the project's CI runs it on mongo:8.0"
)
Shape = tuple[dict[str, Any], list[tuple[str, int]] | None, int, str | None]
"""A find as the service sends it: filter, sort, skip, hint."""


@pytest.fixture
def collection(settings: Settings) -> Iterator[Collection[dict[str, Any]]]:
    """Yield the items collection, migrated (its indexes come from `make migrate`), with 5 items."""
    client: MongoClient[dict[str, Any]]
    with MongoClient(settings.mongo_uri.get_secret_value(), tz_aware=True) as client:
        items: Collection[dict[str, Any]] = client[settings.mongo_database][documents.COLLECTION]
        items.insert_many(
            documents.new_document(ItemCreate(name=f"n{index}", tags=["red", "blue"]))
            for index in range(5)
        )
        yield items


def list_shape(items: Collection[dict[str, Any]], query: ItemQuery, *, continued: bool) -> Shape:
    """Return the find of one list page: the first (`page=2`), or one past a real cursor."""
    if not continued:
        query = query.model_copy(update={"page": 2})
        skip = (query.page - 1) * query.per_page
        return documents.list_filter(query), documents.sort_spec(query), skip, None
    first = items.find(
        documents.list_filter(query), sort=documents.sort_spec(query), limit=PER_PAGE + 1
    ).to_list()
    cursor = documents.to_page(query, first, None, KEY, documents.COLLECTION).next
    assert cursor is not None
    query, after = documents.continue_from(
        ItemQuery(cursor=cursor, per_page=PER_PAGE), KEY, documents.COLLECTION
    )
    return documents.page_filter(query, after), documents.sort_spec(query), 0, None


def list_queries() -> list[ItemQuery]:
    """Return each sort, with and without a tag."""
    return [
        ItemQuery(sort=sort, tag=tag, per_page=PER_PAGE)
        for sort in get_args(SortKey)
        for tag in (None, "red")
    ]


def list_shapes(items: Collection[dict[str, Any]]) -> dict[str, Shape]:
    """Return every list shape, page and cursor, hinted as the repository hints it."""
    shapes: dict[str, Shape] = {}
    for query in list_queries():
        for continued in (False, True):
            filter_, sort, skip, _ = list_shape(items, query, continued=continued)
            shapes[f"{query.sort}-{query.tag or 'all'}-{'cursor' if continued else 'page'}"] = (
                filter_,
                sort,
                skip,
                documents.index_for(query),
            )
    return shapes


def stages(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every stage of a plan, outermost first."""
    yield plan
    for child in [plan.get("inputStage"), plan.get("queryPlan"), *plan.get("inputStages", [])]:
        if child:
            yield from stages(child)


def explain(items: Collection[dict[str, Any]], shape: Shape) -> dict[str, Any]:
    """Return the explain output of `shape`, run with `limit` per_page + 1."""
    filter_, sort, skip, hint = shape
    cursor = items.find(filter_, sort=sort, skip=skip, limit=PER_PAGE + 1)
    if hint is not None:
        cursor = cursor.hint(hint)
    explained: dict[str, Any] = cursor.explain()
    return explained


def winning_plan(items: Collection[dict[str, Any]], shape: Shape) -> list[dict[str, Any]]:
    """Return the stages of the winning plan of `shape`, outermost first."""
    return list(stages(explain(items, shape)["queryPlanner"]["winningPlan"]))


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


def is_secantus(items: Collection[dict[str, Any]]) -> bool:
    """Return True when the server is SecantusDB (its explain names itself as host)."""
    explained = items.find({}).limit(1).explain()
    return bool(explained.get("serverInfo", {}).get("host") == "secantus")


@pytest.mark.parametrize("continued", [False, True], ids=["page", "cursor"])
@pytest.mark.parametrize("query", list_queries(), ids=lambda q: f"{q.sort}-{q.tag or 'all'}")
def test_each_list_query_scans_an_index_whose_key_order_is_its_sort(
    collection: Collection[dict[str, Any]], query: ItemQuery, continued: bool
) -> None:
    filter_, sort, skip, _ = list_shape(collection, query, continued=continued)
    assert sort is not None
    plan = winning_plan(collection, (filter_, sort, skip, documents.index_for(query)))
    assert "COLLSCAN" not in [stage["stage"] for stage in plan], plan
    [ixscan] = [stage for stage in plan if stage["stage"] == "IXSCAN"]
    assert ixscan["indexName"] == documents.index_for(query), plan
    direction = walk_direction(ixscan["keyPattern"], filter_, sort)
    assert direction is not None, (ixscan["keyPattern"], filter_, sort)
    if "SORT" not in [stage["stage"] for stage in plan]:
        assert ixscan["direction"] == direction, plan


def test_no_list_query_needs_a_blocking_sort_on_mongod(
    collection: Collection[dict[str, Any]],
) -> None:
    if is_secantus(collection):
        pytest.skip(PLANNER_SKIP)
    winners = {
        name: winning_plan(collection, shape) for name, shape in list_shapes(collection).items()
    }
    with_sort_stage = {
        name: plan for name, plan in winners.items() if "SORT" in [stage["stage"] for stage in plan]
    }
    assert not with_sort_stage, with_sort_stage


@pytest.mark.parametrize("by", ["id", "name"])
def test_reads_of_one_item_are_served_by_an_index(
    collection: Collection[dict[str, Any]], by: str
) -> None:
    stored = collection.find_one({"name": "n1"})
    assert stored is not None
    filter_ = {"id": documents.item_filter(str(stored["_id"])), "name": {"name": "n1"}}[by]
    plan = winning_plan(collection, (filter_, None, 0, None))
    assert "COLLSCAN" not in [stage["stage"] for stage in plan], plan


def test_an_if_match_filter_reads_one_key_of_the_id_index(
    collection: Collection[dict[str, Any]],
) -> None:
    stored = collection.find_one({"name": "n1"})
    assert stored is not None
    filter_ = documents.item_filter(str(stored["_id"]), [1, 2])
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
    collection: Collection[dict[str, Any]],
) -> None:
    if is_secantus(collection):
        pytest.skip(PLANNER_SKIP)
    stored = collection.find_one({"name": "n1"})
    assert stored is not None
    filter_ = documents.item_filter(str(stored["_id"]), [1, 2])
    plan = winning_plan(collection, (filter_, None, 0, None))
    assert "COLLSCAN" not in [stage["stage"] for stage in plan], plan
