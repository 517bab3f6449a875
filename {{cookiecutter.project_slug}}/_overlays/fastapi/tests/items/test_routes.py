"""The items API over HTTP, with the lifespan running against a real MongoDB server."""

import asyncio
import json

import httpx2
import pytest

from {{ cookiecutter.package_name }}.items.documents import RESOURCE
from {{ cookiecutter.package_name }}.items.schemas import ItemPage, ItemRead
from {{ cookiecutter.package_name }}.problems import (
    UNREADABLE_DOCUMENT_TITLE,
    UNREADABLE_DOCUMENT_TYPE,
)
from {{ cookiecutter.package_name }}.settings import Settings
from tests.items.builders import item_body, store_unreadable

ITEMS = "/api/v1/items"
MISSING_ID = "0123456789abcdef01234567"


async def create(client: httpx2.AsyncClient, **fields: object) -> dict[str, object]:
    """Create an item through the API and return its body."""
    response = await client.post(ITEMS, json=item_body(**fields))
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_create_item_returns_201_with_location_and_etag(client: httpx2.AsyncClient) -> None:
    response = await client.post(ITEMS, json={"name": "lamp", "tags": ["home"]})
    assert response.status_code == 201
    item = response.json()
    assert response.headers["location"] == f"{ITEMS}/{item['id']}"
    assert response.headers["etag"] == '"1"'
    assert item["name"] == "lamp"
    assert item["description"] is None
    assert item["tags"] == ["home"]
    assert item["version"] == 1
    assert item["created_at"] == item["updated_at"]
    assert item["created_at"].endswith("Z")


async def test_create_item_with_duplicate_name_is_409(client: httpx2.AsyncClient) -> None:
    await create(client, name="unique")
    response = await client.post(ITEMS, json=item_body(name="unique"))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Conflict"


@pytest.mark.parametrize(
    "body",
    [
        {"name": {"$gt": ""}},
        {"name": "x", "extra": 1},
        {"name": ""},
        {"name": "x" * 201},
        {"name": "x", "tags": ["t"] * 21},
        {"name": "x", "tags": [""]},
        {"name": "x", "description": "d" * 2001},
        {"name": 42},
        {},
    ],
)
async def test_create_item_rejects_invalid_bodies_with_422(
    client: httpx2.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post(ITEMS, json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422
    assert problem["errors"]
    assert {"loc", "msg", "type"} <= set(problem["errors"][0])


async def test_get_item_returns_it_with_etag(client: httpx2.AsyncClient) -> None:
    item = await create(client)
    response = await client.get(f"{ITEMS}/{item['id']}")
    assert response.status_code == 200
    assert response.json() == item
    assert response.headers["etag"] == '"1"'


async def test_get_unknown_item_is_404(client: httpx2.AsyncClient) -> None:
    response = await client.get(f"{ITEMS}/{MISSING_ID}")
    assert response.status_code == 404
    assert response.json()["instance"] == f"{ITEMS}/{MISSING_ID}"


async def test_get_malformed_id_is_422(client: httpx2.AsyncClient) -> None:
    response = await client.get(f"{ITEMS}/not-an-id")
    assert response.status_code == 422


async def get_page(client: httpx2.AsyncClient, **params: str) -> list[ItemRead]:
    """Return the items of one page of the list, read through `ItemPage`."""
    response = await client.get(ITEMS, params=params)
    assert response.status_code == 200, response.text
    return ItemPage.model_validate(response.json()).items


async def test_get_items_pages_and_counts(client: httpx2.AsyncClient) -> None:
    for index in range(5):
        await create(client, name=f"n{index}")
    response = await client.get(ITEMS, params={"page": 2, "per_page": 2, "sort": "name"})
    assert response.status_code == 200
    page = ItemPage.model_validate(response.json())
    assert [item.name for item in page.items] == ["n2", "n3"]
    assert (page.page, page.per_page, page.total) == (2, 2, 5)


async def test_get_items_filters_by_tag(client: httpx2.AsyncClient) -> None:
    await create(client, name="red", tags=["colour", "warm"])
    await create(client, name="blue", tags=["colour"])
    response = await client.get(ITEMS, params={"tag": "warm"})
    assert [item.name for item in ItemPage.model_validate(response.json()).items] == ["red"]
    assert response.json()["total"] == 1


async def test_get_items_sort_is_stable_on_ties(client: httpx2.AsyncClient) -> None:
    created = [await create(client) for _ in range(4)]
    ascending = await get_page(client, sort="created_at")
    descending = await get_page(client, sort="-created_at")
    assert [i.id for i in ascending] == [i["id"] for i in created]
    assert [i.id for i in descending] == [i["id"] for i in reversed(created)]


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": 0},
        {"per_page": 101},
        {"page": 0},
        {"page": -1},
        {"sort": "version"},
        {"tag[$ne]": "x"},
        {"page": "abc"},
    ],
)
async def test_get_items_rejects_bad_query_with_422(
    client: httpx2.AsyncClient, params: dict[str, str | int]
) -> None:
    response = await client.get(ITEMS, params=params)
    assert response.status_code == 422


async def test_replace_item_sets_every_field_and_bumps_version(client: httpx2.AsyncClient) -> None:
    item = await create(client, description="old", tags=["a"])
    response = await client.put(f"{ITEMS}/{item['id']}", json={"name": "renamed"})
    assert response.status_code == 200
    replaced = response.json()
    assert (replaced["name"], replaced["description"], replaced["tags"]) == ("renamed", None, [])
    assert replaced["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert replaced["created_at"] == item["created_at"]


async def test_update_item_changes_only_given_fields(client: httpx2.AsyncClient) -> None:
    item = await create(client, description="keep me", tags=["a"])
    response = await client.patch(f"{ITEMS}/{item['id']}", json={"tags": ["b"]})
    assert response.status_code == 200
    updated = response.json()
    assert (updated["name"], updated["description"], updated["tags"]) == (
        item["name"],
        "keep me",
        ["b"],
    )
    assert updated["version"] == 2


@pytest.mark.parametrize("body", [{}, {"name": None}, {"tags": None}, {"version": 9}])
async def test_update_item_rejects_empty_null_or_server_fields(
    client: httpx2.AsyncClient, body: dict[str, object]
) -> None:
    item = await create(client)
    response = await client.patch(f"{ITEMS}/{item['id']}", json=body)
    assert response.status_code == 422


async def test_update_with_current_if_match_succeeds(client: httpx2.AsyncClient) -> None:
    item = await create(client)
    response = await client.patch(
        f"{ITEMS}/{item['id']}", json={"description": "x"}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 200


async def test_update_with_stale_if_match_is_412_and_changes_nothing(
    client: httpx2.AsyncClient,
) -> None:
    item = await create(client)
    await client.patch(f"{ITEMS}/{item['id']}", json={"description": "first"})
    response = await client.patch(
        f"{ITEMS}/{item['id']}", json={"description": "second"}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 412
    current = (await client.get(f"{ITEMS}/{item['id']}")).json()
    assert (current["description"], current["version"]) == ("first", 2)


async def test_malformed_if_match_is_400(client: httpx2.AsyncClient) -> None:
    item = await create(client)
    response = await client.put(
        f"{ITEMS}/{item['id']}", json=item_body(), headers={"If-Match": "1"}
    )
    assert response.status_code == 400


async def test_rename_to_existing_name_is_409(client: httpx2.AsyncClient) -> None:
    await create(client, name="taken")
    item = await create(client)
    response = await client.patch(f"{ITEMS}/{item['id']}", json={"name": "taken"})
    assert response.status_code == 409


async def test_concurrent_updates_without_if_match_all_apply(client: httpx2.AsyncClient) -> None:
    item = await create(client)
    bodies = [{"description": "d"}, {"tags": ["t"]}, {"name": "new-name"}]
    responses = await asyncio.gather(
        *(client.patch(f"{ITEMS}/{item['id']}", json=body) for body in bodies)
    )
    assert all(response.status_code == 200 for response in responses)
    final = (await client.get(f"{ITEMS}/{item['id']}")).json()
    assert (final["description"], final["tags"], final["name"]) == ("d", ["t"], "new-name")
    assert final["version"] == 1 + len(bodies)


async def test_delete_item_is_204_then_404(client: httpx2.AsyncClient) -> None:
    item = await create(client)
    response = await client.delete(f"{ITEMS}/{item['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"{ITEMS}/{item['id']}")).status_code == 404
    assert (await client.delete(f"{ITEMS}/{item['id']}")).status_code == 404


async def test_delete_with_stale_if_match_is_412_and_keeps_item(
    client: httpx2.AsyncClient,
) -> None:
    item = await create(client)
    response = await client.delete(f"{ITEMS}/{item['id']}", headers={"If-Match": '"7"'})
    assert response.status_code == 412
    assert (await client.get(f"{ITEMS}/{item['id']}")).status_code == 200


async def test_a_stored_item_the_read_model_refuses_is_a_500_problem_naming_it(
    client: httpx2.AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    good = await create(client, name="good")
    missing = store_unreadable(settings, removed=("created_at",))
    mistyped = store_unreadable(settings, version="3")
    capsys.readouterr()
    response = await client.get(f"{ITEMS}/{missing}")
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    events = [line for line in logged if line["event"] == "unreadable document"]
    assert [(e["ids"], e["failing_fields"]) for e in events] == [
        ([missing], {missing: ["created_at"]})
    ]
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["type"], body["title"]) == (UNREADABLE_DOCUMENT_TYPE, UNREADABLE_DOCUMENT_TITLE)
    assert (body["resource"], body["ids"]) == (RESOURCE, [missing])
    listed = await client.get(ITEMS, params={"sort": "created_at"})
    assert listed.status_code == 500
    assert listed.json()["ids"] == [missing, mistyped]
    assert (await client.get(f"{ITEMS}/{good['id']}")).status_code == 200
    counted = 'unreadable_documents_total{resource="' + RESOURCE + '"} 3.0'
    assert counted in (await client.get("/metrics")).text


async def walk(client: httpx2.AsyncClient, cursor: str | None, per_page: int) -> list[str]:
    """Follow `next` cursors from `cursor` to the last page; return the names seen."""
    names: list[str] = []
    while cursor is not None:
        response = await client.get(ITEMS, params={"cursor": cursor, "per_page": per_page})
        assert response.status_code == 200, response.text
        page = ItemPage.model_validate(response.json())
        assert (page.page, page.total) == (None, None)
        names += [item.name for item in page.items]
        cursor = page.next
    return names


@pytest.mark.parametrize("sort", ["name", "-created_at"])
async def test_cursor_pages_show_every_item_once_while_items_are_added(
    client: httpx2.AsyncClient, sort: str
) -> None:
    existing = [(await create(client, name=f"m{index}"))["name"] for index in range(5)]
    response = await client.get(ITEMS, params={"sort": sort, "per_page": 2})
    first = ItemPage.model_validate(response.json())
    assert first.next is not None
    assert response.headers["Link"] == f'<{ITEMS}?cursor={first.next}&per_page=2>; rel="next"'
    added = [(await create(client, name=name))["name"] for name in ("a-new", "z-new")]
    names = [item.name for item in first.items] + await walk(client, first.next, 2)
    if sort == "-created_at":
        existing.reverse()  # newest first: the added items sort before the cursor
    assert [name for name in names if name not in added] == existing
    assert sorted(set(names)) == sorted(names)
    assert ("z-new" in names) is (sort == "name")  # after the cursor: shown once


async def test_the_last_page_has_no_next_cursor_and_no_link(client: httpx2.AsyncClient) -> None:
    await create(client)
    response = await client.get(ITEMS, params={"per_page": 1})
    assert response.json()["next"] is None
    assert "Link" not in response.headers


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "tampered"},
        {"cursor": "not base64url!"},
        {"cursor": "FIRST", "page": "2"},
        {"cursor": "FIRST", "sort": "-name"},
        {"cursor": "FIRST", "tag": "other"},
    ],
)
async def test_a_tampered_or_contradicted_cursor_is_a_400_problem(
    client: httpx2.AsyncClient, params: dict[str, str]
) -> None:
    for index in range(3):
        await create(client, name=f"c{index}")
    first = await client.get(ITEMS, params={"sort": "name", "per_page": 1})
    cursor = first.json()["next"]
    tampered = cursor[:-3] + ("AAA" if cursor[-3:] != "AAA" else "BBB")
    replaced = {"FIRST": cursor, "tampered": tampered}
    query = {name: replaced.get(value, value) for name, value in params.items()}
    response = await client.get(ITEMS, params=query)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "cursor" in response.json()["detail"]


async def test_an_empty_cursor_is_a_422_as_the_schema_declares(client: httpx2.AsyncClient) -> None:
    response = await client.get(ITEMS, params={"cursor": ""})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_changing_a_stored_item_the_model_refuses_is_a_500_problem_naming_it(
    client: httpx2.AsyncClient,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    method: str,
) -> None:
    """As GET and list answer: the documented problem, logged and counted, no traceback."""
    mistyped = store_unreadable(settings, version="two")  # MongoDB: $inc fails (code 14)
    extra = store_unreadable(settings, extra=1)  # MongoDB: the validator refuses (code 121)
    capsys.readouterr()
    for item_id in (mistyped, extra):
        response = await client.request(method, f"{ITEMS}/{item_id}", json=item_body())
        assert response.status_code == 500, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert (body["type"], body["title"]) == (
            UNREADABLE_DOCUMENT_TYPE,
            UNREADABLE_DOCUMENT_TITLE,
        )
        assert (body["resource"], body["ids"]) == (RESOURCE, [item_id])
    output = capsys.readouterr()
    logged = [json.loads(line) for line in output.out.splitlines()]
    events = [line for line in logged if line["event"] == "unreadable document"]
    assert [e["failing_fields"] for e in events] == [{mistyped: ["version"]}, {extra: ["extra"]}]
    assert "Traceback" not in output.out + output.err
    counted = 'unreadable_documents_total{resource="' + RESOURCE + '"} 2.0'
    assert counted in (await client.get("/metrics")).text


# --- Idempotency-Key ------------------------------------------------------------------

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


async def test_more_than_one_idempotency_key_is_a_400_and_creates_nothing(
    client: httpx2.AsyncClient,
) -> None:
    """IETF draft section 2.1: one key per request; which of two counts would be a guess."""
    body = item_body()
    two_lines = [("Idempotency-Key", KEY), ("Idempotency-Key", "other")]
    for headers in (two_lines, {"Idempotency-Key": f'"{KEY}", other'}):
        response = await client.post(ITEMS, json=body, headers=headers)
        assert response.status_code == 400, response.text
        assert "one Idempotency-Key" in response.json()["detail"]
    assert (await client.get(ITEMS)).json()["total"] == 0


async def test_an_idempotency_key_is_its_callers_own(
    client: httpx2.AsyncClient, another_caller: dict[str, str] | None
) -> None:
    """Another caller sending the same key never gets the first caller's answer.

    Without access control (`auth` none) every request is the same caller: keys are shared.
    """
    body = item_body()
    first = await client.post(ITEMS, json=body, headers={"Idempotency-Key": KEY})
    assert first.status_code == 201, first.text
    if another_caller is None:
        again = await client.post(ITEMS, json=body, headers={"Idempotency-Key": KEY})
        assert (again.status_code, again.json()) == (201, first.json())
        return
    # The same key and body: the other caller's own new request (the name is taken).
    stolen = await client.post(ITEMS, json=body, headers={**another_caller, "Idempotency-Key": KEY})
    assert stolen.status_code == 409, stolen.text
    assert first.json()["id"] not in stolen.text
    # Its own body under a key the first caller used: its own new item, not a 422.
    used = await client.post(ITEMS, json=item_body(), headers={"Idempotency-Key": "used"})
    assert used.status_code == 201, used.text
    own = await client.post(
        ITEMS, json=item_body(), headers={**another_caller, "Idempotency-Key": "used"}
    )
    assert own.status_code == 201, own.text
    assert own.json()["id"] != used.json()["id"]
