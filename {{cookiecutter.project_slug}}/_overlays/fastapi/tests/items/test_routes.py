"""The items API over HTTP, with the lifespan running against a real MongoDB server."""

import asyncio

import httpx2
import pytest

from {{ cookiecutter.package_name }}.items.schemas import ItemPage, ItemRead
from tests.items.builders import item_body

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
