"""The items API over HTTP, with the lifespan running against a real MongoDB server."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask.testing import FlaskClient

from {{ cookiecutter.package_name }}.items.documents import RESOURCE
from {{ cookiecutter.package_name }}.items.routes import IfMatchHeader, ItemListQuery, SchemaOnce
from {{ cookiecutter.package_name }}.items.schemas import ItemPage, ItemRead
from {{ cookiecutter.package_name }}.problems import (
    UNREADABLE_DOCUMENT_TITLE,
    UNREADABLE_DOCUMENT_TYPE,
)
from {{ cookiecutter.package_name }}.settings import Settings
from tests.items.builders import item_body, store_unreadable

ITEMS = "/api/v1/items"
MISSING_ID = "0123456789abcdef01234567"


def create(client: FlaskClient, **fields: object) -> dict[str, object]:
    """Create an item through the API and return its body."""
    response = client.post(ITEMS, json=item_body(**fields))
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.get_json()
    return body


def test_create_item_returns_201_with_location_and_etag(client: FlaskClient) -> None:
    response = client.post(ITEMS, json={"name": "lamp", "tags": ["home"]})
    assert response.status_code == 201
    item = response.get_json()
    assert response.headers["location"] == f"{ITEMS}/{item['id']}"
    assert response.headers["etag"] == '"1"'
    assert item["name"] == "lamp"
    assert item["description"] is None
    assert item["tags"] == ["home"]
    assert item["version"] == 1
    assert item["created_at"] == item["updated_at"]
    assert item["created_at"].endswith("Z")


def test_create_item_with_duplicate_name_is_409(client: FlaskClient) -> None:
    create(client, name="unique")
    response = client.post(ITEMS, json=item_body(name="unique"))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.get_json()["title"] == "Conflict"


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
def test_create_item_rejects_invalid_bodies_with_422(
    client: FlaskClient, body: dict[str, object]
) -> None:
    response = client.post(ITEMS, json=body)
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["status"] == 422
    assert problem["errors"]
    assert {"loc", "msg", "type"} <= set(problem["errors"][0])


def test_get_item_returns_it_with_etag(client: FlaskClient) -> None:
    item = create(client)
    response = client.get(f"{ITEMS}/{item['id']}")
    assert response.status_code == 200
    assert response.get_json() == item
    assert response.headers["etag"] == '"1"'


def test_get_unknown_item_is_404(client: FlaskClient) -> None:
    response = client.get(f"{ITEMS}/{MISSING_ID}")
    assert response.status_code == 404
    assert response.get_json()["instance"] == f"{ITEMS}/{MISSING_ID}"


def test_get_malformed_id_is_422(client: FlaskClient) -> None:
    response = client.get(f"{ITEMS}/not-an-id")
    assert response.status_code == 422


def get_page(client: FlaskClient, **params: str) -> list[ItemRead]:
    """Return the items of one page of the list, read through `ItemPage`."""
    response = client.get(ITEMS, query_string=params)
    assert response.status_code == 200, response.text
    return ItemPage.model_validate(response.get_json()).items


def test_get_items_pages_and_counts(client: FlaskClient) -> None:
    for index in range(5):
        create(client, name=f"n{index}")
    response = client.get(ITEMS, query_string={"page": 2, "per_page": 2, "sort": "name"})
    assert response.status_code == 200
    page = ItemPage.model_validate(response.get_json())
    assert [item.name for item in page.items] == ["n2", "n3"]
    assert (page.page, page.per_page, page.total) == (2, 2, 5)


def test_get_items_filters_by_tag(client: FlaskClient) -> None:
    create(client, name="red", tags=["colour", "warm"])
    create(client, name="blue", tags=["colour"])
    response = client.get(ITEMS, query_string={"tag": "warm"})
    assert [item.name for item in ItemPage.model_validate(response.get_json()).items] == ["red"]
    assert response.get_json()["total"] == 1


def test_get_items_sort_is_stable_on_ties(client: FlaskClient) -> None:
    created = [create(client) for _ in range(4)]
    ascending = get_page(client, sort="created_at")
    descending = get_page(client, sort="-created_at")
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
def test_get_items_rejects_bad_query_with_422(
    client: FlaskClient, params: dict[str, str | int]
) -> None:
    response = client.get(ITEMS, query_string=params)
    assert response.status_code == 422


def test_replace_item_sets_every_field_and_bumps_version(client: FlaskClient) -> None:
    item = create(client, description="old", tags=["a"])
    response = client.put(f"{ITEMS}/{item['id']}", json={"name": "renamed"})
    assert response.status_code == 200
    replaced = response.get_json()
    assert (replaced["name"], replaced["description"], replaced["tags"]) == ("renamed", None, [])
    assert replaced["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert replaced["created_at"] == item["created_at"]


def test_update_item_changes_only_given_fields(client: FlaskClient) -> None:
    item = create(client, description="keep me", tags=["a"])
    response = client.patch(f"{ITEMS}/{item['id']}", json={"tags": ["b"]})
    assert response.status_code == 200
    updated = response.get_json()
    assert (updated["name"], updated["description"], updated["tags"]) == (
        item["name"],
        "keep me",
        ["b"],
    )
    assert updated["version"] == 2


@pytest.mark.parametrize("body", [{}, {"name": None}, {"tags": None}, {"version": 9}])
def test_update_item_rejects_empty_null_or_server_fields(
    client: FlaskClient, body: dict[str, object]
) -> None:
    item = create(client)
    response = client.patch(f"{ITEMS}/{item['id']}", json=body)
    assert response.status_code == 422


def test_update_with_current_if_match_succeeds(client: FlaskClient) -> None:
    item = create(client)
    response = client.patch(
        f"{ITEMS}/{item['id']}", json={"description": "x"}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 200


def test_update_with_stale_if_match_is_412_and_changes_nothing(
    client: FlaskClient,
) -> None:
    item = create(client)
    client.patch(f"{ITEMS}/{item['id']}", json={"description": "first"})
    response = client.patch(
        f"{ITEMS}/{item['id']}", json={"description": "second"}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 412
    current = (client.get(f"{ITEMS}/{item['id']}")).get_json()
    assert (current["description"], current["version"]) == ("first", 2)


def test_malformed_if_match_is_400(client: FlaskClient) -> None:
    item = create(client)
    response = client.put(f"{ITEMS}/{item['id']}", json=item_body(), headers={"If-Match": "1"})
    assert response.status_code == 400


def test_rename_to_existing_name_is_409(client: FlaskClient) -> None:
    create(client, name="taken")
    item = create(client)
    response = client.patch(f"{ITEMS}/{item['id']}", json={"name": "taken"})
    assert response.status_code == 409


def test_concurrent_updates_without_if_match_all_apply(client: FlaskClient) -> None:
    item = create(client)
    bodies = [{"description": "d"}, {"tags": ["t"]}, {"name": "new-name"}]
    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        responses = list(
            pool.map(lambda body: client.patch(f"{ITEMS}/{item['id']}", json=body), bodies)
        )
    assert all(response.status_code == 200 for response in responses)
    final = (client.get(f"{ITEMS}/{item['id']}")).get_json()
    assert (final["description"], final["tags"], final["name"]) == ("d", ["t"], "new-name")
    assert final["version"] == 1 + len(bodies)


def test_delete_item_is_204_then_404(client: FlaskClient) -> None:
    item = create(client)
    response = client.delete(f"{ITEMS}/{item['id']}")
    assert response.status_code == 204
    assert response.data == b""
    assert (client.get(f"{ITEMS}/{item['id']}")).status_code == 404
    assert (client.delete(f"{ITEMS}/{item['id']}")).status_code == 404


def test_delete_with_stale_if_match_is_412_and_keeps_item(
    client: FlaskClient,
) -> None:
    item = create(client)
    response = client.delete(f"{ITEMS}/{item['id']}", headers={"If-Match": '"7"'})
    assert response.status_code == 412
    assert (client.get(f"{ITEMS}/{item['id']}")).status_code == 200


@pytest.mark.parametrize("model", [IfMatchHeader, ItemListQuery])
def test_request_part_schemas_are_built_once_and_match_pydantic(model: type[SchemaOnce]) -> None:
    # flask-openapi asks for these on every request; the cache must not change them.
    schema = model.model_json_schema()
    assert model.model_json_schema() is schema
    assert schema == model.model_json_schema(by_alias=None)  # explicit arguments: built anew


def test_a_stored_item_the_read_model_refuses_is_a_500_problem_naming_it(
    client: FlaskClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    good = create(client, name="good")
    missing = store_unreadable(settings, removed=("created_at",))
    mistyped = store_unreadable(settings, version="3")
    capsys.readouterr()
    response = client.get(f"{ITEMS}/{missing}")
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    events = [line for line in logged if line["event"] == "unreadable document"]
    assert [(e["ids"], e["failing_fields"]) for e in events] == [
        ([missing], {missing: ["created_at"]})
    ]
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert (body["type"], body["title"]) == (UNREADABLE_DOCUMENT_TYPE, UNREADABLE_DOCUMENT_TITLE)
    assert (body["resource"], body["ids"]) == (RESOURCE, [missing])
    listed = client.get(ITEMS, query_string={"sort": "created_at"})
    assert listed.status_code == 500
    assert listed.get_json()["ids"] == [missing, mistyped]
    assert client.get(f"{ITEMS}/{good['id']}").status_code == 200
    counted = 'unreadable_documents_total{resource="' + RESOURCE + '"} 3.0'
    assert counted in client.get("/metrics").text


def walk(client: FlaskClient, cursor: str | None, per_page: int) -> list[str]:
    """Follow `next` cursors from `cursor` to the last page; return the names seen."""
    names: list[str] = []
    while cursor is not None:
        response = client.get(ITEMS, query_string={"cursor": cursor, "per_page": per_page})
        assert response.status_code == 200, response.text
        page = ItemPage.model_validate(response.get_json())
        assert (page.page, page.total) == (None, None)
        names += [item.name for item in page.items]
        cursor = page.next
    return names


@pytest.mark.parametrize("sort", ["name", "-created_at"])
def test_cursor_pages_show_every_item_once_while_items_are_added(
    client: FlaskClient, sort: str
) -> None:
    existing = [create(client, name=f"m{index}")["name"] for index in range(5)]
    response = client.get(ITEMS, query_string={"sort": sort, "per_page": 2})
    first = ItemPage.model_validate(response.get_json())
    assert first.next is not None
    assert response.headers["Link"] == f'<{ITEMS}?cursor={first.next}&per_page=2>; rel="next"'
    added = [create(client, name=name)["name"] for name in ("a-new", "z-new")]
    names = [item.name for item in first.items] + walk(client, first.next, 2)
    if sort == "-created_at":
        existing.reverse()  # newest first: the added items sort before the cursor
    assert [name for name in names if name not in added] == existing
    assert sorted(set(names)) == sorted(names)
    assert ("z-new" in names) is (sort == "name")  # after the cursor: shown once


def test_the_last_page_has_no_next_cursor_and_no_link(client: FlaskClient) -> None:
    create(client)
    response = client.get(ITEMS, query_string={"per_page": 1})
    assert response.get_json()["next"] is None
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
def test_a_tampered_or_contradicted_cursor_is_a_400_problem(
    client: FlaskClient, params: dict[str, str]
) -> None:
    for index in range(3):
        create(client, name=f"c{index}")
    cursor = client.get(ITEMS, query_string={"sort": "name", "per_page": 1}).get_json()["next"]
    tampered = cursor[:-3] + ("AAA" if cursor[-3:] != "AAA" else "BBB")
    replaced = {"FIRST": cursor, "tampered": tampered}
    query = {name: replaced.get(value, value) for name, value in params.items()}
    response = client.get(ITEMS, query_string=query)
    assert response.status_code == 400, response.text
    assert response.mimetype == "application/problem+json"
    assert "cursor" in response.get_json()["detail"]


def test_an_empty_cursor_is_a_422_as_the_schema_declares(client: FlaskClient) -> None:
    response = client.get(ITEMS, query_string={"cursor": ""})
    assert response.status_code == 422, response.text
    assert response.get_json()["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_changing_a_stored_item_the_model_refuses_is_a_500_problem_naming_it(
    client: FlaskClient,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    method: str,
) -> None:
    """As GET and list answer: the documented problem, logged and counted, no traceback."""
    mistyped = store_unreadable(settings, version="two")  # MongoDB: $inc fails (code 14)
    extra = store_unreadable(settings, extra=1)  # MongoDB: the validator refuses (code 121)
    capsys.readouterr()
    for item_id in (mistyped, extra):
        response = client.open(f"{ITEMS}/{item_id}", method=method, json=item_body())
        assert response.status_code == 500, response.text
        assert response.mimetype == "application/problem+json"
        body = response.get_json()
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
    assert counted in client.get("/metrics").text


# --- Idempotency-Key ------------------------------------------------------------------

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


def test_more_than_one_idempotency_key_is_a_400_and_creates_nothing(client: FlaskClient) -> None:
    """IETF draft section 2.1: one key per request; which of two counts would be a guess.

    A WSGI server hands the app several header lines joined by commas (gunicorn: `,`,
    Werkzeug's test client: `, `), so two lines arrive as a list of keys.
    """
    body = item_body()
    two_lines = [("Idempotency-Key", KEY), ("Idempotency-Key", "other")]
    for headers in (two_lines, {"Idempotency-Key": f'"{KEY}",other'}):
        response = client.post(ITEMS, json=body, headers=headers)
        assert response.status_code == 400, response.text
        assert "one Idempotency-Key" in response.get_json()["detail"]
    assert client.get(ITEMS).get_json()["total"] == 0


def test_an_idempotency_key_is_its_callers_own(
    client: FlaskClient, another_caller: dict[str, str] | None
) -> None:
    """Another caller sending the same key never gets the first caller's answer.

    Without access control (`auth` none) every request is the same caller: keys are shared.
    """
    body = item_body()
    first = client.post(ITEMS, json=body, headers={"Idempotency-Key": KEY})
    assert first.status_code == 201, first.text
    if another_caller is None:
        again = client.post(ITEMS, json=body, headers={"Idempotency-Key": KEY})
        assert (again.status_code, again.get_json()) == (201, first.get_json())
        return
    # The same key and body: the other caller's own new request (the name is taken).
    stolen = client.post(ITEMS, json=body, headers={**another_caller, "Idempotency-Key": KEY})
    assert stolen.status_code == 409, stolen.text
    assert first.get_json()["id"] not in stolen.text
    # Its own body under a key the first caller used: its own new item, not a 422.
    used = client.post(ITEMS, json=item_body(), headers={"Idempotency-Key": "used"})
    assert used.status_code == 201, used.text
    own = client.post(
        ITEMS, json=item_body(), headers={**another_caller, "Idempotency-Key": "used"}
    )
    assert own.status_code == 201, own.text
    assert own.get_json()["id"] != used.get_json()["id"]
