"""Every query the items API sends is served by an index in sort order (MongoDB `explain`).

Each shape is built by the same `documents` functions the repositories call, and the
server's `queryPlanner.winningPlan` must hold no COLLSCAN and no blocking SORT.

SecantusDB (the embedded test server) plans more simply than mongod: it reports a
blocking SORT whenever the sort has two keys and the query has a filter or a hint
(every keyset continuation, and page queries, which name their index), or the index is
multikey (`tags`): its planner takes an index walk as sorted only when the sort's single
key is the index's first field (`secantus/storage.py`, `_make_ixscan_plan`). There the
SORT check is skipped; the index check still runs. It also scans the collection for
a filter on `_id` plus another field (the If-Match writes' `{_id, version: {$in}}`),
where mongod uses the `_id` index; that one case is checked against mongod only.
Against mongod (`TEST_MONGO_URI`, Docker) everything is checked.
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


def stages(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every stage of a plan, outermost first."""
    yield plan
    for child in [plan.get("inputStage"), plan.get("queryPlan"), *plan.get("inputStages", [])]:
        if child:
            yield from stages(child)


def winning_plan(items: Collection[dict[str, Any]], shape: Shape) -> list[dict[str, Any]]:
    """Return the stages of the winning plan of `shape`, run with `limit` per_page + 1."""
    filter_, sort, skip, hint = shape
    cursor = items.find(filter_, sort=sort, skip=skip, limit=PER_PAGE + 1)
    if hint is not None:
        cursor = cursor.hint(hint)
    explained = cursor.explain()
    return list(stages(explained["queryPlanner"]["winningPlan"]))


def is_secantus(items: Collection[dict[str, Any]]) -> bool:
    """Return True when the server is SecantusDB (its explain names itself as host)."""
    explained = items.find({}).limit(1).explain()
    return bool(explained.get("serverInfo", {}).get("host") == "secantus")


@pytest.mark.parametrize("continued", [False, True], ids=["page", "cursor"])
@pytest.mark.parametrize("query", list_queries(), ids=lambda q: f"{q.sort}-{q.tag or 'all'}")
def test_each_list_query_is_served_by_its_index_in_sort_order(
    collection: Collection[dict[str, Any]], query: ItemQuery, continued: bool
) -> None:
    filter_, sort, skip, _ = list_shape(collection, query, continued=continued)
    plan = winning_plan(collection, (filter_, sort, skip, documents.index_for(query)))
    names = [stage["stage"] for stage in plan]
    assert "COLLSCAN" not in names, plan
    assert {stage.get("indexName") for stage in plan} >= {documents.index_for(query)}, plan
    if not is_secantus(collection):
        assert "SORT" not in names, plan


@pytest.mark.parametrize("by", ["id", "id and version", "name"])
def test_reads_of_one_item_are_served_by_an_index(
    collection: Collection[dict[str, Any]], by: str
) -> None:
    stored = collection.find_one({"name": "n1"})
    assert stored is not None
    filter_ = {
        "id": documents.item_filter(str(stored["_id"])),
        "id and version": documents.item_filter(str(stored["_id"]), [1, 2]),
        "name": {"name": "n1"},
    }[by]
    plan = winning_plan(collection, (filter_, None, 0, None))
    if by != "id and version" or not is_secantus(collection):
        assert "COLLSCAN" not in [stage["stage"] for stage in plan], plan
