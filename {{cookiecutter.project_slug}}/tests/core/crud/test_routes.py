"""A resource's routes over HTTP, on every shape, with the app running against a real server.

Written once for both frameworks (`tests.http.Http`): the status codes, headers and
bodies of the contract, as each framework's route factory serves them.
"""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.core.crud.models import nullable
from {{ cookiecutter.package_name }}.core.problems import (
    UNREADABLE_DOCUMENT_TITLE,
    UNREADABLE_DOCUMENT_TYPE,
)
from {{ cookiecutter.package_name }}.core.settings import Settings

from tests.core.crud.builders import store_unreadable
from tests.http import Http
from tests.shapes import SHAPES, Shape

MISSING_ID = "0123456789abcdef01234567"
UNIQUE = [shape for shape in SHAPES if shape.resource.unique]
FILTERED = [(shape, param) for shape in SHAPES for param in shape.filtered]
# Each sort key in both directions, for every shape: the list is stable on each.
SORTS = [
    (shape, sort) for shape in SHAPES for key in shape.resource.sorts for sort in (key, f"-{key}")
]


def create(http: Http, shape: Shape, **fields: object) -> dict[str, Any]:
    """Create a document through the API and return its body."""
    response = http.post(shape.resource.path, json=shape.body(**fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def one(shape: Shape, document_id: object) -> str:
    """Return the URL of one document."""
    return f"{shape.resource.path}/{document_id}"


def test_create_returns_201_with_location_and_etag(http: Http, shape: Shape) -> None:
    sent = shape.body()
    response = http.post(shape.resource.path, json=sent)
    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == one(shape, created["id"])
    assert response.headers["etag"] == '"1"'
    stored = shape.resource.create.model_validate(sent).model_dump()
    assert {field: created[field] for field in stored} == stored
    assert created["version"] == 1
    assert created["created_at"] == created["updated_at"]
    assert created["created_at"].endswith("Z")


@pytest.mark.parametrize("shape", UNIQUE, ids=str)
def test_create_with_a_taken_unique_value_is_409(http: Http, shape: Shape) -> None:
    field = shape.resource.unique[0]
    first = create(http, shape)
    response = http.post(shape.resource.path, json=shape.body(**{field: first[field]}))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Conflict"


def test_create_refuses_invalid_bodies_with_422(http: Http, shape: Shape) -> None:
    valid = shape.body()
    required = [
        name for name, info in shape.resource.fields.model_fields.items() if info.is_required()
    ]
    core_cases: list[Any] = [
        {**valid, "unknown": 1},
        {**valid, "version": 9},
        {**valid, "id": MISSING_ID},
        {key: value for key, value in valid.items() if key != required[0]},
        {**valid, required[0]: None},
        {},
        [valid],
    ]
    for body in [*core_cases, *shape.invalid]:
        response = http.post(shape.resource.path, json=body)
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert problem["status"] == 422
        assert problem["errors"], body
        assert {"loc", "msg", "type"} <= set(problem["errors"][0])


def test_get_returns_the_document_with_its_etag(http: Http, shape: Shape) -> None:
    created = create(http, shape)
    response = http.get(one(shape, created["id"]))
    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == '"1"'


def test_get_unknown_is_404_and_a_malformed_id_422(http: Http, shape: Shape) -> None:
    response = http.get(one(shape, MISSING_ID))
    assert response.status_code == 404
    assert response.json()["instance"] == one(shape, MISSING_ID)
    malformed = http.get(one(shape, "not-an-id"))
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["loc"] == ["path", shape.resource.id_name]


def page_of(http: Http, shape: Shape, **params: object) -> dict[str, Any]:
    """Return one page of the list as its body."""
    response = http.get(shape.resource.path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_page_by_number_counts_every_match(http: Http, shape: Shape) -> None:
    made = [create(http, shape)["id"] for _ in range(5)]
    page = page_of(http, shape, page=2, per_page=2, sort="created_at")
    assert [found["id"] for found in page["items"]] == made[2:4]
    assert (page["page"], page["per_page"], page["total"]) == (2, 2, 5)


@pytest.mark.parametrize(("shape", "param"), FILTERED, ids=str)
def test_each_filter_keeps_only_matching_documents(http: Http, shape: Shape, param: str) -> None:
    overrides, value = shape.filtered[param]
    matching = create(http, shape, **overrides)
    create(http, shape)
    page = page_of(http, shape, **{param: value})
    assert [found["id"] for found in page["items"]] == [matching["id"]]
    assert page["total"] == 1


def sort_value(found: dict[str, Any], key: str) -> Any:
    """Return `found[key]` as the database orders it: a time as a time.

    A time on a whole second is written without a fraction (`...:05Z`), which as text
    sorts after `...:05.123000Z`.
    """
    value = found[key]
    return datetime.fromisoformat(value) if key in TIMES else value


TIMES = ("created_at", "updated_at")


@pytest.mark.parametrize(("shape", "sort"), SORTS, ids=str)
def test_every_sort_is_stable_and_walks_by_cursor_without_gaps(
    http: Http, shape: Shape, sort: str
) -> None:
    made = [create(http, shape) for _ in range(5)]
    key = sort.lstrip("-")
    expected = sorted(
        made, key=lambda found: (sort_value(found, key), found["id"]), reverse=sort[0] == "-"
    )
    first = page_of(http, shape, sort=sort, per_page=2)
    seen = [found["id"] for found in first["items"]]
    cursor = first["next"]
    while cursor is not None:
        page = page_of(http, shape, cursor=cursor, per_page=2)
        assert (page["page"], page["total"]) == (None, None)
        seen += [found["id"] for found in page["items"]]
        cursor = page["next"]
    assert seen == [found["id"] for found in expected]


def test_a_cursor_page_shows_documents_added_after_its_position_once(
    http: Http, shape: Shape
) -> None:
    existing = [create(http, shape)["id"] for _ in range(5)]
    response = http.get(shape.resource.path, params={"sort": "created_at", "per_page": 2})
    first = response.json()
    assert response.headers["link"] == (
        f'<{shape.resource.path}?cursor={first["next"]}&per_page=2>; rel="next"'
    )
    added = [create(http, shape)["id"] for _ in range(2)]
    seen = [found["id"] for found in first["items"]]
    cursor = first["next"]
    while cursor is not None:
        page = page_of(http, shape, cursor=cursor, per_page=2)
        seen += [found["id"] for found in page["items"]]
        cursor = page["next"]
    assert seen == existing + added


def test_the_last_page_has_no_next_cursor_and_no_link(http: Http, shape: Shape) -> None:
    create(http, shape)
    response = http.get(shape.resource.path, params={"per_page": 1})
    assert response.json()["next"] is None
    assert "link" not in response.headers


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": 0},
        {"per_page": 101},
        {"page": 0},
        {"page": -1},
        {"page": "abc"},
        {"sort": "version"},
        {"sort": "-id"},
        {"unknown": "x"},
        {"filter[$ne]": "x"},
    ],
    ids=str,
)
def test_a_bad_list_query_is_422(http: Http, shape: Shape, params: dict[str, object]) -> None:
    assert http.get(shape.resource.path, params=params).status_code == 422


def test_a_tampered_or_contradicted_cursor_is_a_400_problem(http: Http, shape: Shape) -> None:
    for _ in range(3):
        create(http, shape)
    cursor = page_of(http, shape, sort="created_at", per_page=1)["next"]
    tampered = cursor[:-3] + ("AAA" if cursor[-3:] != "AAA" else "BBB")
    filtered: list[dict[str, object]] = [
        {"cursor": cursor, param: value} for param, (_, value) in shape.filtered.items()
    ]
    contradicting: list[dict[str, object]] = [
        {"cursor": tampered},
        {"cursor": "not base64url!"},
        {"cursor": cursor, "page": 2},
        {"cursor": cursor, "sort": "-created_at"},
        *filtered,
    ]
    for params in contradicting:
        response = http.get(shape.resource.path, params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "cursor" in response.json()["detail"]


def test_an_empty_cursor_is_a_422_as_the_schema_declares(http: Http, shape: Shape) -> None:
    response = http.get(shape.resource.path, params={"cursor": ""})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


def test_a_cursor_of_another_resource_is_a_400(http: Http, shape: Shape) -> None:
    other = next(each for each in SHAPES if each is not shape)
    for _ in range(2):
        create(http, other)
    cursor = page_of(http, other, per_page=1)["next"]
    response = http.get(shape.resource.path, params={"cursor": cursor, "per_page": 1})
    assert response.status_code == 400, response.text
    assert "another list" in response.json()["detail"]


def test_replace_sets_every_field_and_bumps_the_version(http: Http, shape: Shape) -> None:
    created = create(http, shape)
    replacement = shape.body()
    response = http.put(one(shape, created["id"]), json=replacement)
    assert response.status_code == 200
    replaced = response.json()
    expected = shape.resource.create.model_validate(replacement).model_dump()
    assert {field: replaced[field] for field in expected} == expected
    assert replaced["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert replaced["created_at"] == created["created_at"]


def test_update_changes_only_the_given_fields(http: Http, shape: Shape) -> None:
    created = create(http, shape)
    response = http.patch(one(shape, created["id"]), json=shape.change)
    assert response.status_code == 200
    updated = response.json()
    assert updated == {
        **created,
        **shape.change,
        "version": 2,
        "updated_at": updated["updated_at"],
    }


def test_update_refuses_empty_null_or_server_fields(http: Http, shape: Shape) -> None:
    created = create(http, shape)
    fields = shape.resource.fields.model_fields
    not_null = [name for name, info in fields.items() if not nullable(info.annotation)]
    nulls: list[dict[str, object]] = [{name: None} for name in not_null]
    bodies: list[dict[str, object]] = [
        {},
        {"version": 9},
        {"id": MISSING_ID},
        {"created_at": "2026-01-01T00:00:00Z"},
        *nulls,
    ]
    for body in bodies:
        response = http.patch(one(shape, created["id"]), json=body)
        assert response.status_code == 422, (body, response.text)


def test_a_current_if_match_applies_and_a_stale_one_is_412_changing_nothing(
    http: Http, shape: Shape
) -> None:
    created = create(http, shape)
    url = one(shape, created["id"])
    assert http.patch(url, json=shape.change, headers={"If-Match": '"1"'}).status_code == 200
    stale = http.put(url, json=shape.body(), headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    current = http.get(url).json()
    assert current["version"] == 2
    assert http.delete(url, headers={"If-Match": '"7"'}).status_code == 412
    assert http.get(url).status_code == 200


def test_a_malformed_if_match_is_400(http: Http, shape: Shape) -> None:
    created = create(http, shape)
    response = http.put(one(shape, created["id"]), json=shape.body(), headers={"If-Match": "1"})
    assert response.status_code == 400


@pytest.mark.parametrize("shape", UNIQUE, ids=str)
def test_changing_a_unique_value_to_a_taken_one_is_409(http: Http, shape: Shape) -> None:
    field = shape.resource.unique[0]
    taken = create(http, shape)
    created = create(http, shape)
    response = http.patch(one(shape, created["id"]), json={field: taken[field]})
    assert response.status_code == 409


def test_concurrent_updates_without_if_match_all_apply(http: Http, shape: Shape) -> None:
    created = create(http, shape)
    url = one(shape, created["id"])

    def patch(_: int) -> int:
        return http.patch(url, json=shape.change).status_code

    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = list(pool.map(patch, range(3)))
    assert statuses == [200, 200, 200]
    assert http.get(url).json()["version"] == 4


def test_delete_is_204_then_404(http: Http, shape: Shape) -> None:
    created = create(http, shape)
    url = one(shape, created["id"])
    response = http.delete(url)
    assert response.status_code == 204
    assert response.content == b""
    assert http.get(url).status_code == 404
    assert http.delete(url).status_code == 404


def test_a_stored_document_the_read_model_refuses_is_a_500_problem_naming_it(
    http: Http,
    shape: Shape,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = create(http, shape)
    missing = store_unreadable(settings, shape, removed=("created_at",))
    mistyped = store_unreadable(settings, shape, version="3")
    capsys.readouterr()
    response = http.get(one(shape, missing))
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    events = [line for line in logged if line["event"] == "unreadable document"]
    assert [(e["ids"], e["failing_fields"]) for e in events] == [
        ([missing], {missing: ["created_at"]})
    ]
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["type"], body["title"]) == (UNREADABLE_DOCUMENT_TYPE, UNREADABLE_DOCUMENT_TITLE)
    assert (body["resource"], body["ids"]) == (shape.resource.name, [missing])
    listed = http.get(shape.resource.path, params={"sort": "created_at"})
    assert listed.status_code == 500
    assert listed.json()["ids"] == [missing, mistyped]
    assert http.get(one(shape, good["id"])).status_code == 200
    counted = 'unreadable_documents_total{resource="' + shape.resource.name + '"} 3.0'
    assert counted in http.get("/metrics").text


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_changing_a_stored_document_the_model_refuses_is_a_500_problem_naming_it(
    http: Http,
    shape: Shape,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    method: str,
) -> None:
    """As GET and list answer: the documented problem, logged and counted, no traceback."""
    mistyped = store_unreadable(settings, shape, version="two")  # $inc fails (code 14)
    extra = store_unreadable(settings, shape, extra=1)  # the validator refuses (code 121)
    capsys.readouterr()
    send = http.patch if method == "PATCH" else http.put
    for document_id in (mistyped, extra):
        response = send(
            one(shape, document_id), json=shape.change if method == "PATCH" else shape.body()
        )
        assert response.status_code == 500, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert (body["type"], body["title"]) == (
            UNREADABLE_DOCUMENT_TYPE,
            UNREADABLE_DOCUMENT_TITLE,
        )
        assert (body["resource"], body["ids"]) == (shape.resource.name, [document_id])
    output = capsys.readouterr()
    logged = [json.loads(line) for line in output.out.splitlines()]
    events = [line for line in logged if line["event"] == "unreadable document"]
    assert [e["failing_fields"] for e in events] == [{mistyped: ["version"]}, {extra: ["extra"]}]
    assert "Traceback" not in output.out + output.err
    counted = 'unreadable_documents_total{resource="' + shape.resource.name + '"} 2.0'
    assert counted in http.get("/metrics").text


# --- Idempotency-Key ------------------------------------------------------------------

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


def test_more_than_one_idempotency_key_is_a_400_and_creates_nothing(
    http: Http, shape: Shape
) -> None:
    """IETF draft section 2.1: one key per request; which of two counts would be a guess."""
    body = shape.body()
    two_lines = [("Idempotency-Key", KEY), ("Idempotency-Key", "other")]
    for headers in (two_lines, {"Idempotency-Key": f'"{KEY}", other'}):
        response = http.post(shape.resource.path, json=body, headers=headers)
        assert response.status_code == 400, response.text
        assert "one Idempotency-Key" in response.json()["detail"]
    assert page_of(http, shape)["total"] == 0


def test_an_idempotency_key_is_its_callers_own(
    http: Http, shape: Shape, another_caller: dict[str, str] | None
) -> None:
    """Another caller sending the same key never gets the first caller's answer.

    Without access control (`auth` none) every request is the same caller: keys are shared.
    """
    body = shape.body()
    first = http.post(shape.resource.path, json=body, headers={"Idempotency-Key": KEY})
    assert first.status_code == 201, first.text
    if another_caller is None:
        again = http.post(shape.resource.path, json=body, headers={"Idempotency-Key": KEY})
        assert (again.status_code, again.json()) == (201, first.json())
        return
    # The same key and body: the other caller's own new request (a unique value is taken).
    stolen = http.post(
        shape.resource.path, json=body, headers={**another_caller, "Idempotency-Key": KEY}
    )
    assert stolen.status_code == (409 if shape.resource.unique else 201), stolen.text
    assert first.json()["id"] not in stolen.text
    # Its own body under a key the first caller used: its own new document, not a 422.
    used = http.post(shape.resource.path, json=shape.body(), headers={"Idempotency-Key": "used"})
    assert used.status_code == 201, used.text
    own = http.post(
        shape.resource.path,
        json=shape.body(),
        headers={**another_caller, "Idempotency-Key": "used"},
    )
    assert own.status_code == 201, own.text
    assert own.json()["id"] != used.json()["id"]


def test_a_body_that_is_not_json_is_415_and_broken_json_400(http: Http, shape: Shape) -> None:
    not_json = http.post(
        shape.resource.path, content=b"name=x", headers={"Content-Type": "text/plain"}
    )
    assert not_json.status_code == 415
    broken = http.post(
        shape.resource.path, content=b'{"x": ', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
