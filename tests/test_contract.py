"""The HTTP contract, written once and run unchanged against every baked variant.

Each variant is served by gunicorn (2 workers) against a real SecantusDB process and
driven over real HTTP. A variant that drifts from the contract fails here.
"""

import contextlib
import os
import random
import re
import socket
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.collection import Collection

from tests.auth_support import access
from tests.support import (
    AUTHED,
    EXAMPLE_FIELDS,
    GROWN,
    RECIPES,
    VARIANTS,
    MongoServer,
    bake_answers,
    extra_fields,
    gunicorn_service,
    resources_of,
)

MISSING_ID = "0123456789abcdef01234567"
# Every resource's: what the core adds, and the unique `name` `make resource` declares.
BASE_FIELDS = {"id", "name", "created_at", "updated_at", "version"}
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance"}
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


# CONTRACT_BASE_URL runs the suite against a service already running there (the
# `make demo` test does this, on a default bake) instead of serving every baked variant.
EXTERNAL_URL = os.environ.get("CONTRACT_BASE_URL")


@dataclass(frozen=True)
class Target:
    """One resource of one served variant: the suite runs once per target."""

    variant: str
    singular: str
    plural: str
    extra: frozenset[str] = frozenset()
    """Fields the resource has beyond BASE_FIELDS: the example's, and the README's recipes'."""

    @property
    def example(self) -> bool:
        """Whether this is the example resource (a description, tags and a `tag` filter).

        A resource added by `make resource` has only its unique `name`.
        """
        return self.extra >= EXAMPLE_FIELDS

    def __str__(self) -> str:
        return f"{self.variant}:{self.plural}"


# Bakes with an access mode served with a caller's credentials (one per mode: the rest of
# the pairwise set runs its own tests in tests/test_auth.py).
CONTRACT_AUTHED = ["fastapi-pymongo+jwt", "flask+api_key"]
assert set(CONTRACT_AUTHED) <= set(AUTHED)

TARGETS = (
    [Target("external", "item", "items", EXAMPLE_FIELDS)]
    if EXTERNAL_URL
    else [
        Target(name, *resource, extra_fields(name, resource[1]))
        for name in [*VARIANTS, *GROWN, RECIPES, *CONTRACT_AUTHED]
        for resource in resources_of(name)
    ]
)
# The targets of the example resource, which has the `tag` filter these tests use to
# find their own documents among everyone's.
EXAMPLE_TARGETS = [target for target in TARGETS if target.example]
# The targets served beside another resource (a cursor of one must not work on another).
NEIGHBOURED = [
    target
    for target in TARGETS
    if target.variant != "external" and len(resources_of(target.variant)) > 1
]

ONE_RESOURCE = "a running service's other resources are not known"


class ResourceClient(httpx.Client):
    """An HTTP client of a served variant that knows the URLs of the resource under test."""

    def __init__(self, target: Target, **kwargs: Any) -> None:
        """Make a client for `target`; `headers` (e.g. credentials) go with every request."""
        super().__init__(**kwargs)
        self.path = f"/api/v1/{target.plural}"
        """The collection URL, e.g. `/api/v1/items`."""
        self.template = f"{self.path}/{{{target.singular}_id}}"
        """The OpenAPI path template of one member, e.g. `/api/v1/items/{item_id}`."""
        self.collection = target.plural
        """The MongoDB collection holding the resource."""
        self.resource = target.singular
        """The resource's snake_case singular name, as problem details name it."""
        self.fields = BASE_FIELDS | target.extra
        """Every field of the resource in a response (BASE_FIELDS and the target's extra)."""
        self.example = target.example
        """Whether the resource is the example (a description, tags, a `tag` filter)."""
        self.changes = "description" if target.example else "name"
        """A field every change test may set to any unique text."""
        self.others = (
            []
            if target.variant == "external"
            else [
                f"/api/v1/{plural}"
                for _, plural in resources_of(target.variant)
                if plural != target.plural
            ]
        )
        """The collection URLs of the service's other resources."""


@pytest.fixture(scope="module")
def services(
    baked: Callable[[str], Path], mongo: MongoServer
) -> Iterator[Callable[[str], tuple[str, str, dict[str, str]]]]:
    """Return `get(variant) -> (base URL, database name, credentials)`, one service at a time.

    Targets are ordered by variant, so every resource of a variant runs against the
    same gunicorn; a variant's service stops when the next variant starts. A bake with
    an access mode is served with a test issuer or key, and the credentials (headers)
    of a caller holding every resource's read and write scopes.
    """
    running: dict[str, tuple[str, str, dict[str, str]]] = {}
    stack = contextlib.ExitStack()

    def get(variant: str) -> tuple[str, str, dict[str, str]]:
        if variant not in running:
            stack.close()
            running.clear()
            project = baked(variant)
            scopes = [
                f"{plural}:{verb}"
                for _, plural in resources_of(variant)
                for verb in ("read", "write")
            ]
            mode = bake_answers(variant).get("auth", "none")
            env, headers = stack.enter_context(access(project, mode, scopes))
            service = stack.enter_context(gunicorn_service(project, mongo.uri, env=env))
            running[variant] = (service.url, f"test_{service.port}", headers)
        return running[variant]

    with stack:
        yield get
    stack.close()


@pytest.fixture(scope="module", params=TARGETS, ids=str)
def service(
    request: pytest.FixtureRequest, services: Callable[[str], tuple[str, str, dict[str, str]]]
) -> Iterator[tuple[ResourceClient, str]]:
    """Serve one target's variant; yield an HTTP client for its resource and its database."""
    target: Target = request.param
    url, database, headers = (EXTERNAL_URL, "", {}) if EXTERNAL_URL else services(target.variant)
    with ResourceClient(target, base_url=url, timeout=10, headers=headers) as client:
        yield client, database


@pytest.fixture
def client(service: tuple[ResourceClient, str]) -> ResourceClient:
    """Return the HTTP client of the resource under test."""
    return service[0]


def only(targets: list[Target]) -> pytest.MarkDecorator:
    """Run a test on `targets` only (by parametrizing the `service` fixture over them)."""
    return pytest.mark.parametrize("service", targets, ids=str, indirect=True)


_names = iter(range(1_000_000))


def unique(prefix: str = "contract") -> str:
    """Return a text no other test uses: a unique name, or a change of the `changes` field."""
    return f"{prefix}-{next(_names)}"


def create(client: ResourceClient, **fields: Any) -> dict[str, Any]:
    """Create a document with a unique name (and, on the example, a tag); return its body."""
    body = {"name": unique(), **({"tags": ["contract"]} if client.example else {}), **fields}
    response = client.post(client.path, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def assert_problem(
    response: httpx.Response, status: int, *, title: str | None = None
) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with `status`; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    expected = PROBLEM_FIELDS | ({"errors"} if status == 422 else set())
    assert set(body) - {"checks"} == expected
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["instance"] == response.request.url.path
    assert "Traceback" not in response.text
    if title:
        assert body["title"] == title
    return body


# --- create ---------------------------------------------------------------------------


def test_post_creates_item_with_location_and_etag(client: ResourceClient) -> None:
    response = client.post(client.path, json={"name": "contract-lamp"})
    assert response.status_code == 201
    item = response.json()
    assert set(item) == client.fields
    assert re.fullmatch(r"[0-9a-f]{24}", item["id"])
    assert (item["name"], item["version"]) == ("contract-lamp", 1)
    if client.example:  # the example's defaults
        assert (item["description"], item["tags"]) == (None, [])
    assert RFC3339_UTC.match(item["created_at"]) and item["created_at"] == item["updated_at"]
    assert response.headers["location"] == f"{client.path}/{item['id']}"
    assert response.headers["etag"] == '"1"'
    assert response.headers["content-type"] == "application/json"


def test_post_duplicate_name_is_409(client: ResourceClient) -> None:
    item = create(client)
    assert_problem(client.post(client.path, json={"name": item["name"]}), 409, title="Conflict")


def test_names_are_equal_in_nfc_and_trimmed(client: ResourceClient) -> None:
    name = f"Cafe\u0301 contract-{next(_names)}"  # "Café" with a combining accent (NFD)
    item = create(client, name=f" {name}\u200b")
    assert item["name"] == unicodedata.normalize("NFC", name)
    again = client.post(client.path, json={"name": unicodedata.normalize("NFC", name)})
    assert_problem(again, 409, title="Conflict")
    assert client.post(client.path, json={"name": name.upper()}).status_code == 201  # case counts


@pytest.mark.parametrize(
    "body",
    [
        {"name": {"$gt": ""}},
        {"name": "x", "$where": "1"},
        {"name": "x", "a.b": 1},
        {"name": "x", "version": 5},
        {"name": ""},
        {"name": " "},
        {"name": "\u200b\u3000"},
        {"name": "n" * 201},
        {"name": 7},
        {},
        [],
        "a string",
    ],
)
def test_post_invalid_body_is_422_with_errors(client: ResourceClient, body: Any) -> None:
    problem = assert_problem(
        client.post(client.path, json=body), 422, title="Unprocessable Content"
    )
    assert problem["errors"]
    for issue in problem["errors"]:
        assert set(issue) == {"loc", "msg", "type"}
        assert issue["loc"][0] == "body"


@only(EXAMPLE_TARGETS)
@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "description": "d" * 2001},
        {"name": "x", "tags": ["t"] * 21},
        {"name": "x", "tags": ["t" * 51]},
        {"name": "x", "tags": "not-a-list"},
    ],
)
def test_post_an_example_field_out_of_bounds_is_422(client: ResourceClient, body: Any) -> None:
    problem = assert_problem(client.post(client.path, json=body), 422)
    assert problem["errors"][0]["loc"][:2] == ["body", next(iter(set(body) - {"name"}))]


def test_post_malformed_json_is_400(client: ResourceClient) -> None:
    response = client.post(
        client.path, content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, title="Bad Request")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_post_non_json_is_415(client: ResourceClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(client.path, content=b"name=x", headers=headers)
    assert_problem(response, 415, title="Unsupported Media Type")


def test_post_body_over_one_mebibyte_is_413(client: ResourceClient) -> None:
    body = b'{"name": "big", "padding": "' + b"x" * (1024 * 1024) + b'"}'
    response = client.post(client.path, content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 413, title="Content Too Large")


def test_post_chunked_body_over_the_limit_is_413(client: ResourceClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "chunked", "padding": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    response = client.post(
        client.path, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413)


def test_connection_keeps_serving_after_a_413(client: ResourceClient) -> None:
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    json_type = {"Content-Type": "application/json"}
    for _ in range(2):
        assert client.post(client.path, content=big, headers=json_type).status_code == 413
        chunked = (b'{"name": "' + b"x" * 65536 for _ in range(40))
        assert client.post(client.path, content=chunked, headers=json_type).status_code == 413
        assert client.get("/health/live").status_code == 200


def test_post_small_chunked_body_is_accepted(client: ResourceClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "contract-chunked-'
        yield str(next(_names)).encode() + b'"}'

    response = client.post(
        client.path, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text


def test_post_deeply_nested_json_is_400(client: ResourceClient) -> None:
    body = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = client.post(client.path, content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 400)


# --- read -----------------------------------------------------------------------------


def test_get_item_returns_it_with_etag(client: ResourceClient) -> None:
    item = create(client)
    response = client.get(f"{client.path}/{item['id']}")
    assert response.status_code == 200
    assert response.json() == item
    assert response.headers["etag"] == '"1"'


def test_get_unknown_item_is_404(client: ResourceClient) -> None:
    assert_problem(client.get(f"{client.path}/{MISSING_ID}"), 404, title="Not Found")


@pytest.mark.parametrize("bad_id", ["nope", "0123456789abcdef0123456", "0123456789abcdef0123456z"])
def test_get_malformed_id_is_422(client: ResourceClient, bad_id: str) -> None:
    problem = assert_problem(client.get(f"{client.path}/{bad_id}"), 422)
    assert problem["errors"][0]["loc"][0] == "path"


@only(EXAMPLE_TARGETS)
def test_list_pages_filters_and_sorts_stably(client: ResourceClient) -> None:
    tag = f"t{next(_names)}"
    made = [create(client, name=f"{tag}-{n}", tags=[tag]) for n in (3, 1, 2)]
    by_name = client.get(client.path, params={"tag": tag, "sort": "name", "per_page": 2}).json()
    assert [i["name"] for i in by_name["items"]] == [f"{tag}-1", f"{tag}-2"]
    assert (by_name["page"], by_name["per_page"], by_name["total"]) == (1, 2, 3)
    second = client.get(client.path, params={"tag": tag, "sort": "name", "per_page": 2, "page": 2})
    assert [i["name"] for i in second.json()["items"]] == [f"{tag}-3"]
    newest = client.get(client.path, params={"tag": tag, "sort": "-created_at"}).json()["items"]
    oldest = client.get(client.path, params={"tag": tag, "sort": "created_at"}).json()["items"]
    assert [i["id"] for i in oldest] == [i["id"] for i in made]
    assert [i["id"] for i in newest] == [i["id"] for i in reversed(made)]
    default = client.get(client.path, params={"tag": tag}).json()
    assert (default["page"], default["per_page"]) == (1, 20)
    assert [i["id"] for i in default["items"]] == [i["id"] for i in newest]


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": 0},
        {"per_page": 101},
        {"page": 0},
        {"page": -5},
        {"page": 10**30},
        {"sort": "version"},
        {"sort": "$natural"},
        {"tag[$ne]": "x"},
        {"page": "x"},
        {"cursor": ""},
    ],
)
def test_list_bad_query_is_422(client: ResourceClient, params: dict[str, Any]) -> None:
    problem = assert_problem(client.get(client.path, params=params), 422)
    assert problem["errors"][0]["loc"][0] == "query"


@only(EXAMPLE_TARGETS)
def test_a_cursor_walk_shows_what_a_page_walk_shows_with_next_links(
    client: ResourceClient,
) -> None:
    tag = f"t{next(_names)}"
    for n in range(5):
        create(client, name=f"{tag}-{n}", tags=[tag])
    params = {"tag": tag, "sort": "-name", "per_page": 2}
    by_page = [client.get(client.path, params={**params, "page": p}).json() for p in (1, 2, 3)]
    response = client.get(client.path, params=params)
    walked = []
    while True:
        page = response.json()
        walked += page["items"]
        if page["next"] is None:
            assert "link" not in response.headers
            break
        link = f'<{client.path}?cursor={page["next"]}&per_page=2>; rel="next"'
        assert response.headers["link"] == link
        response = client.get(link[1 : link.index(">")])
        assert (response.json()["page"], response.json()["total"]) == (None, None)
    assert walked == [item for page in by_page for item in page["items"]]
    assert [page["total"] for page in by_page] == [5, 5, 5]


@only(EXAMPLE_TARGETS)
@pytest.mark.parametrize("change", ["edited", "page", "sort"])
def test_an_altered_or_contradicted_cursor_is_a_400_problem(
    client: ResourceClient, change: str
) -> None:
    tag = f"t{next(_names)}"
    for n in range(2):
        create(client, name=f"{tag}-{n}", tags=[tag])
    cursor = client.get(client.path, params={"tag": tag, "per_page": 1}).json()["next"]
    params = {
        "edited": {"cursor": cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")},
        "page": {"cursor": cursor, "page": 2},
        "sort": {"cursor": cursor, "sort": "name"},
    }[change]
    problem = assert_problem(client.get(client.path, params=params), 400)
    assert "cursor" in problem["detail"]


@pytest.mark.skipif(bool(EXTERNAL_URL), reason=ONE_RESOURCE)
@only(NEIGHBOURED or TARGETS)
def test_a_cursor_is_refused_by_every_other_resource(client: ResourceClient) -> None:
    """A cursor is bound to the list that gave it (its collection is signed into it)."""
    for _ in range(2):
        create(client)
    cursor = client.get(client.path, params={"per_page": 1}).json()["next"]
    for other in client.others:
        problem = assert_problem(client.get(other, params={"cursor": cursor}), 400)
        assert "another list" in problem["detail"]
    assert client.get(client.path, params={"cursor": cursor}).status_code == 200


def test_a_stored_document_the_service_cannot_read_is_a_500_problem_naming_it(
    client: ResourceClient, service: tuple[ResourceClient, str], mongo: MongoServer
) -> None:
    if not service[1]:
        pytest.skip("the database of an external service is not known")
    good, bad = (create(client) for _ in range(2))
    mongo_client: MongoClient[dict[str, Any]]
    with MongoClient(mongo.uri) as mongo_client:
        stored = mongo_client[service[1]][client.collection]
        # As a hand fix in mongosh might: past the collection's validator.
        stored.update_one(
            {"_id": ObjectId(bad["id"])},
            {"$set": {"version": "two"}},
            bypass_document_validation=True,
        )
        try:
            one = client.get(f"{client.path}/{bad['id']}")
            # Newest first: the unreadable document is on the first page.
            listed = client.get(client.path, params={"sort": "-created_at", "per_page": 5})
            # A change fails in MongoDB ($inc on a string): the same problem, not a bare 500.
            patched = client.patch(f"{client.path}/{bad['id']}", json={client.changes: unique()})
            put = client.put(f"{client.path}/{bad['id']}", json={"name": bad["name"]})
            metrics = client.get("/metrics").text
            assert client.get(f"{client.path}/{good['id']}").status_code == 200
        finally:
            stored.update_one({"_id": ObjectId(bad["id"])}, {"$set": {"version": 1}})
    for response in (one, listed, patched, put):
        assert response.status_code == 500, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "/problems/unreadable-document"
        assert problem["title"] == "Stored document cannot be read"
        assert (problem["resource"], problem["ids"]) == (client.resource, [bad["id"]])
    assert re.search(
        rf'^unreadable_documents_total{{resource="{client.resource}"}} [1-9]', metrics, re.M
    )
    assert client.get(f"{client.path}/{bad['id']}").status_code == 200  # repaired


# --- update ---------------------------------------------------------------------------


def test_put_replaces_every_field(client: ResourceClient) -> None:
    item = create(client, **({"description": "old", "tags": ["x"]} if client.example else {}))
    response = client.put(f"{client.path}/{item['id']}", json={"name": item["name"] + "-new"})
    assert response.status_code == 200
    new = response.json()
    assert (new["name"], new["version"]) == (item["name"] + "-new", 2)
    if client.example:  # every field not sent is back to its default
        assert (new["description"], new["tags"]) == (None, [])
    assert new["created_at"] == item["created_at"]
    assert new["updated_at"] >= item["updated_at"]
    assert response.headers["etag"] == '"2"'


@only(EXAMPLE_TARGETS)
def test_patch_changes_only_given_fields(client: ResourceClient) -> None:
    item = create(client, description="keep")
    response = client.patch(f"{client.path}/{item['id']}", json={"tags": ["new"]})
    assert response.status_code == 200
    assert (response.json()["description"], response.json()["tags"]) == ("keep", ["new"])
    assert response.headers["etag"] == '"2"'


@only(EXAMPLE_TARGETS)
def test_patch_can_clear_description(client: ResourceClient) -> None:
    item = create(client, description="gone soon")
    response = client.patch(f"{client.path}/{item['id']}", json={"description": None})
    assert response.json()["description"] is None


@pytest.mark.parametrize("body", [{}, {"name": None}, {"id": MISSING_ID}, {"version": 9}])
def test_patch_empty_null_or_unknown_is_422(client: ResourceClient, body: dict[str, Any]) -> None:
    item = create(client)
    assert_problem(client.patch(f"{client.path}/{item['id']}", json=body), 422)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_with_stale_if_match_is_412_and_changes_nothing(
    client: ResourceClient, method: str
) -> None:
    item = create(client)
    url = f"{client.path}/{item['id']}"
    changed = unique("v2")
    assert client.patch(url, json={client.changes: changed}).status_code == 200
    response = client.request(method, url, json={"name": unique()}, headers={"If-Match": '"1"'})
    assert_problem(response, 412, title="Precondition Failed")
    current = client.get(url).json()
    assert (current["version"], current[client.changes]) == (2, changed)


# Schemathesis sent values of these shapes (empty elements, tabs around the commas); a
# client cannot send spaces around the whole value (httpx refuses, servers strip them).
@pytest.mark.parametrize(
    "if_match", ['"1"', '"9", "1"', "*", ', ,\t"1" ,', ',   \t"1"', 'W/"x" \t, "1" ,']
)
def test_update_with_matching_if_match_succeeds(client: ResourceClient, if_match: str) -> None:
    item = create(client)
    response = client.patch(
        f"{client.path}/{item['id']}",
        json={client.changes: unique()},
        headers={"If-Match": if_match},
    )
    assert response.status_code == 200


def test_weak_if_match_never_matches(client: ResourceClient) -> None:
    item = create(client)
    response = client.patch(
        f"{client.path}/{item['id']}",
        json={client.changes: unique()},
        headers={"If-Match": 'W/"1"'},
    )
    assert_problem(response, 412)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_if_match_compares_etags_strongly_not_as_numbers(
    client: ResourceClient, method: str
) -> None:
    """`"03"` is another ETag than `"3"` (RFC 9110 section 8.8.3.2): 412, nothing changes."""
    item = create(client)
    url = f"{client.path}/{item['id']}"
    for changed in [unique("v2"), unique("v3")]:
        assert client.patch(url, json={client.changes: changed}).status_code == 200
    body = None if method == "DELETE" else {"name": unique()}
    response = client.request(method, url, json=body, headers={"If-Match": '"03"'})
    assert_problem(response, 412, title="Precondition Failed")
    current = client.get(url).json()
    assert (current["version"], current[client.changes]) == (3, changed)


def test_if_match_tag_with_a_comma_is_one_tag(client: ResourceClient) -> None:
    """A comma inside a quoted ETag belongs to it; the list still matches on its other tag."""
    item = create(client)
    url = f"{client.path}/{item['id']}"
    changed = unique("x")
    response = client.patch(url, json={client.changes: changed}, headers={"If-Match": '"a,1", "1"'})
    assert response.status_code == 200, response.text
    stale = client.patch(url, json={client.changes: unique("y")}, headers={"If-Match": '"2,3"'})
    assert_problem(stale, 412)
    assert client.get(url).json()[client.changes] == changed


@pytest.mark.parametrize("if_match", ["1", '"1', "bogus, x", '"1""2"'])
def test_malformed_if_match_is_400(client: ResourceClient, if_match: str) -> None:
    item = create(client)
    response = client.patch(
        f"{client.path}/{item['id']}",
        json={client.changes: unique()},
        headers={"If-Match": if_match},
    )
    assert_problem(response, 400)


def test_update_unknown_item_is_404(client: ResourceClient) -> None:
    assert_problem(client.put(f"{client.path}/{MISSING_ID}", json={"name": "x"}), 404)
    assert_problem(client.patch(f"{client.path}/{MISSING_ID}", json={"name": "x"}), 404)


def test_rename_onto_existing_name_is_409(client: ResourceClient) -> None:
    first, second = create(client), create(client)
    response = client.patch(f"{client.path}/{second['id']}", json={"name": first["name"]})
    assert_problem(response, 409)


# --- delete ---------------------------------------------------------------------------


def test_delete_is_204_then_404(client: ResourceClient) -> None:
    item = create(client)
    response = client.delete(f"{client.path}/{item['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(client.get(f"{client.path}/{item['id']}"), 404)
    assert_problem(client.delete(f"{client.path}/{item['id']}"), 404)


def test_delete_with_stale_if_match_is_412_and_keeps_item(client: ResourceClient) -> None:
    item = create(client)
    response = client.delete(f"{client.path}/{item['id']}", headers={"If-Match": '"2"'})
    assert_problem(response, 412)
    assert client.get(f"{client.path}/{item['id']}").status_code == 200
    assert (
        client.delete(f"{client.path}/{item['id']}", headers={"If-Match": '"1"'}).status_code == 204
    )


# --- routing, headers, operations -------------------------------------------------------


def test_unknown_route_is_404_problem(client: ResourceClient) -> None:
    body = assert_problem(client.get("/no/such/route"), 404)
    assert body["detail"] == "No route matches /no/such/route."


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "{path}", "GET, HEAD, POST"),
        ("POST", "{path}/" + MISSING_ID, "DELETE, GET, HEAD, PATCH, PUT"),
        ("POST", "/health/live", "GET, HEAD"),
    ],
)
def test_wrong_method_is_405_with_full_allow(
    client: ResourceClient, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path.format(path=client.path), json={"name": "x"})
    assert_problem(response, 405, title="Method Not Allowed")
    assert response.headers["allow"] == allow


def test_no_response_names_the_server_software(client: ResourceClient) -> None:
    """No `Server` header (uvicorn and gunicorn send their names by default)."""
    for response in (
        client.get("/health/live"),
        client.get(client.path),
        client.get("/nope"),
        client.post(client.path, json={}),
    ):
        assert "server" not in response.headers, response.headers["server"]
    for head in (request_head(fields=[b"X-Big: " + b"v" * 2**14]), b"GARBAGE\r\n\r\n"):
        with socket.create_connection((client.base_url.host, client.base_url.port)) as sock:
            sock.sendall(head)
            received = sock.recv(65536).split(b"\r\n\r\n")[0]
        assert received.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), received
        assert b"\r\nserver:" not in received.lower(), received


def test_every_response_carries_request_id_and_nosniff(client: ResourceClient) -> None:
    for response in (
        client.get("/health/live"),
        client.get("/nope"),
        client.post(client.path, json={}),
        client.get("/metrics"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert re.fullmatch(r"[A-Za-z0-9._:-]{8,128}", response.headers["x-request-id"])


def test_sane_request_id_is_echoed_and_insane_replaced(client: ResourceClient) -> None:
    assert (
        client.get("/health/live", headers={"X-Request-ID": "req-42"}).headers["x-request-id"]
        == "req-42"
    )
    replaced = client.get("/health/live", headers={"X-Request-ID": "bad id\t{}"})
    assert replaced.headers["x-request-id"] != "bad id\t{}"


def test_cors_is_closed_by_default(client: ResourceClient) -> None:
    response = client.get(client.path, headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in response.headers


def test_liveness_and_readiness(client: ResourceClient) -> None:
    live = client.get("/health/live")
    assert live.status_code == 200
    assert set(live.json()) == {"status", "uptime_seconds"} and live.json()["status"] == "ok"
    ready = client.get("/health/ready")
    assert ready.json() == {"status": "ok", "checks": {"mongodb": "ok"}}


def test_metrics_expose_counter_and_histogram_by_route(client: ResourceClient) -> None:
    item = create(client)
    client.get(f"{client.path}/{item['id']}")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert re.search(
        rf'http_requests_total\{{method="GET",route="{re.escape(client.template)}",'
        r'status="200"\} \d',
        text,
    )
    assert (
        f'http_request_duration_seconds_bucket{{le="0.005",method="POST",route="{client.path}",status="201"}}'
        in text
    )
    assert 'route="/metrics"' not in text


def test_no_request_creates_a_metric_series_outside_fixed_label_sets(
    client: ResourceClient,
) -> None:
    rng = random.Random(20261202)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for _ in range(60):
        method = "".join(rng.choices(letters, k=rng.randint(3, 10)))
        path = rng.choice(
            ["/health/live", client.path, f"{client.path}/{MISSING_ID}", f"/x{rng.random()}"]
        )
        client.request(method, path)
        client.get(f"/random-{rng.random()}")
    assert client.get("/docs").status_code == 200
    document = client.get("/openapi.json").json()
    # Swagger UI assets are one route template; an earlier target on the same service
    # may have fetched them.
    routes = {*document["paths"], "/docs", "/openapi.json", "/swagger/{filename}", "<unmatched>"}
    methods = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    series = re.findall(
        r'^http_requests_total\{method="([^"]*)",route="([^"]*)",status="(\d+)"\}',
        client.get("/metrics").text,
        re.MULTILINE,
    )
    assert ("GET", "/docs", "200") in series and ("GET", "/openapi.json", "200") in series
    for method, route, _ in series:
        assert method in methods and route in routes, (method, route)


def test_docs_and_openapi_are_served(client: ResourceClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {client.path, client.template, "/health/live", "/health/ready"} <= paths
    # Every other path belongs to another resource of the same service.
    assert all(path.startswith(("/api/v1/", "/health/")) for path in paths), paths


def test_stored_documents_hold_only_schema_fields(
    client: ResourceClient, service: tuple[ResourceClient, str], mongo: MongoServer
) -> None:
    if not service[1]:
        pytest.skip("the database of an external service is not known")
    item = create(client)
    client.patch(f"{client.path}/{item['id']}", json={client.changes: unique()})
    mongo_client: MongoClient[dict[str, Any]]
    with MongoClient(mongo.uri) as mongo_client:
        for document in mongo_client[service[1]][client.collection].find():
            assert set(document) == {"_id", *client.fields} - {"id"}
            assert isinstance(document["created_at"], datetime)


# --- request heads, HEAD, redirects, offline docs (issue 15) ---------------------------

# The bounds of docs/operations.md, gunicorn's limit_request_* in gunicorn.conf.py.
MAX_REQUEST_LINE = 8190
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD = 8190


def exchange(client: ResourceClient, head: bytes) -> tuple[int, bytes]:
    """Send raw `head` on a new connection; return the status and the response bytes.

    Raw bytes because httpx cannot send an oversized head; the server may stop reading
    and close early, so a failed send still reads whatever answer came back.
    """
    url = client.base_url
    with socket.create_connection((url.host, url.port or 80), timeout=10) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(head)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    status = int(received.split(b" ", 2)[1])
    if status >= 400:  # refused before any handler ran: still a problem, both variants
        assert b"content-type: application/problem+json" in received.lower(), received[:300]
    return status, received


def request_head(target: str = "/health/live", fields: list[bytes] | None = None) -> bytes:
    """Return a GET request head for `target` with Host, Connection: close and `fields`."""
    lines = [f"GET {target} HTTP/1.1".encode(), b"Host: contract", b"Connection: close"]
    return b"\r\n".join([*lines, *(fields or [])]) + b"\r\n\r\n"


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (1, 414)])
def test_request_line_over_the_limit_is_414(
    client: ResourceClient, extra: int, status: int
) -> None:
    # "GET " + target + " HTTP/1.1" is exactly MAX_REQUEST_LINE bytes, plus `extra`.
    target = "/health/live?q=" + "a" * (MAX_REQUEST_LINE + extra - 4 - 15 - 9)
    assert exchange(client, request_head(target))[0] == status


@pytest.mark.parametrize(
    ("count", "status"), [(MAX_HEADER_FIELDS, 200), (MAX_HEADER_FIELDS + 1, 431)]
)
def test_more_header_fields_than_the_limit_is_431(
    client: ResourceClient, count: int, status: int
) -> None:
    fields = [f"X-Field-{n}: v".encode() for n in range(count - 2)]  # + Host, Connection
    assert exchange(client, request_head(fields=fields))[0] == status


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (1, 431)])
def test_header_field_over_the_limit_is_431(
    client: ResourceClient, extra: int, status: int
) -> None:
    # "X-Big: " + value + CRLF is exactly MAX_HEADER_FIELD bytes, plus `extra`.
    field = b"X-Big: " + b"v" * (MAX_HEADER_FIELD + extra - 9)
    assert exchange(client, request_head(fields=[field]))[0] == status


@pytest.mark.parametrize("ended", [True, False])
def test_one_mebibyte_header_is_431_and_the_service_keeps_answering(
    client: ResourceClient, ended: bool
) -> None:
    head = request_head(fields=[b"X-Big: " + b"v" * 2**20])
    status, received = exchange(client, head if ended else head[:-4])
    assert status == 431
    assert b"Traceback" not in received
    assert client.get("/health/live").status_code == 200


def test_twenty_thousand_header_fields_are_431(client: ResourceClient) -> None:
    fields = [f"X-{n}: v".encode() for n in range(20_000)]
    assert exchange(client, request_head(fields=fields))[0] == 431
    assert client.get("/health/live").status_code == 200


def test_head_is_served_wherever_get_is(client: ResourceClient) -> None:
    item = create(client)
    for path in (
        "/health/live",
        "/health/ready",
        client.path,
        f"{client.path}/{item['id']}",
        "/docs",
    ):
        got, head = client.get(path), client.head(path)
        assert (head.status_code, head.content) == (got.status_code, b""), path
        assert head.headers["content-type"] == got.headers["content-type"], path
    assert client.head(f"{client.path}/{item['id']}").headers["etag"] == '"1"'
    missing = client.head(f"{client.path}/{MISSING_ID}")
    assert (missing.status_code, missing.content) == (404, b"")


@pytest.mark.parametrize(
    "path",
    [
        "{path}/",
        "{path}/" + MISSING_ID + "/",
        "/health/live/",
        "//health/live",
        "/docs/",
        "/swagger",
    ],
)
def test_no_redirect_is_built_from_the_host_header(client: ResourceClient, path: str) -> None:
    path = path.format(path=client.path)
    response = client.get(path, headers={"Host": "evil.example"})
    location = response.headers.get("location", "")
    assert "evil.example" not in location and not location.startswith(("http", "//"))
    if path.startswith(f"{client.path}/"):
        assert_problem(response, 404)  # a trailing slash is not the same resource


CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/", ".svg": "image/"}


def test_docs_load_every_asset_from_the_service_itself(client: ResourceClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    links = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert any(link.endswith(".js") for link in links)
    for link in links:
        assert "://" not in link and not link.startswith("//"), link
        url = urljoin(str(docs.url), link)
        assert url.startswith(str(client.base_url)), link
        asset = client.get(url)
        assert asset.status_code == 200, link
        kind = CONTENT_TYPES[link[link.rindex(".") :]]
        assert kind in asset.headers["content-type"], (link, asset.headers["content-type"])


# --- Idempotency-Key (IETF httpapi draft "The Idempotency-Key HTTP Header Field") -----

_keys = iter(range(1_000_000))


def new_key() -> str:
    """Return an Idempotency-Key no other test uses (unique per run too)."""
    return f"contract-{uuid.uuid4().hex[:8]}-{next(_keys)}"


def count_named(client: ResourceClient, name: str) -> int:
    """Return how many stored documents have `name` (unique: 0 or 1 if all is well).

    Through the API: newest first, the last 100 (a test's documents are among them).
    """
    listed = client.get(client.path, params={"sort": "-created_at", "per_page": 100})
    assert listed.status_code == 200, listed.text
    return sum(1 for item in listed.json()["items"] if item["name"] == name)


def keyed_body(client: ResourceClient) -> dict[str, Any]:
    """Return a create body with a name no other test uses (and, on the example, a tag)."""
    name = f"keyed-{uuid.uuid4().hex}"
    return {"name": name, **({"tags": [name]} if client.example else {})}


@pytest.fixture
def key_records(
    service: tuple[ResourceClient, str], mongo: MongoServer
) -> Iterator[Collection[dict[str, Any]]]:
    """Yield the service's Idempotency-Key records collection (skips external services)."""
    if not service[1]:
        pytest.skip("the database of an external service is not known")
    mongo_client: MongoClient[dict[str, Any]]
    with MongoClient(mongo.uri, tz_aware=True) as mongo_client:
        yield mongo_client[service[1]]["idempotency_keys"]


def test_post_retried_with_its_key_replays_the_first_answer_and_stores_one_item(
    client: ResourceClient,
) -> None:
    key, body = new_key(), keyed_body(client)
    first = client.post(client.path, json=body, headers={"Idempotency-Key": f'"{key}"'})
    assert first.status_code == 201, first.text
    # The bare form names the same key; key order and defaults do not change the body.
    same = {**body, "description": None} if client.example else body  # a default, spelt out
    retry = client.post(
        client.path, json=dict(reversed(list(same.items()))), headers={"Idempotency-Key": key}
    )
    assert retry.status_code == 201, retry.text
    assert retry.json() == first.json()
    for header in ("etag", "location", "content-type"):
        assert retry.headers[header] == first.headers[header], header
    assert count_named(client, body["name"]) == 1


def test_post_with_a_used_key_and_another_body_is_422(client: ResourceClient) -> None:
    key, body = new_key(), keyed_body(client)
    assert client.post(client.path, json=body, headers={"Idempotency-Key": key}).status_code == 201
    other = keyed_body(client)
    problem = assert_problem(
        client.post(client.path, json=other, headers={"Idempotency-Key": key}), 422
    )
    assert [issue["loc"] for issue in problem["errors"]] == [["header", "Idempotency-Key"]]
    assert count_named(client, other["name"]) == 0


def test_post_with_a_key_replays_its_409_even_once_the_name_is_free(
    client: ResourceClient,
) -> None:
    taken = create(client)
    key = new_key()
    body = {"name": taken["name"]}
    assert_problem(client.post(client.path, json=body, headers={"Idempotency-Key": key}), 409)
    assert client.delete(f"{client.path}/{taken['id']}").status_code == 204
    replayed = client.post(client.path, json=body, headers={"Idempotency-Key": key})
    assert_problem(replayed, 409)
    assert "retry-after" not in replayed.headers
    assert client.post(client.path, json=body).status_code == 201  # without the key: a new request


def test_post_while_its_key_is_in_flight_is_409_with_retry_after_then_takes_over(
    client: ResourceClient, key_records: Collection[dict[str, Any]]
) -> None:
    key, body = new_key(), keyed_body(client)
    first = client.post(client.path, json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    # Put the record back in flight, as a request still running (or crashed) leaves it:
    # claimed just now (a 15 s lease: 3 x MONGO_TIMEOUT_MS), it may answer any moment.
    now = datetime.now(UTC)
    in_flight = {"$set": {"state": "in_flight", "lease_until": now + timedelta(seconds=15)}}
    assert key_records.update_one({"_id.key": key}, in_flight).modified_count == 1
    busy = client.post(client.path, json=body, headers={"Idempotency-Key": key})
    assert_problem(busy, 409, title="Conflict")
    assert busy.headers["retry-after"] == "1"
    # Claimed 9 s ago: past its own 5 s budget, it crashed or hangs; wait for the lease.
    stuck = {"$set": {"lease_until": now + timedelta(seconds=6)}}
    assert key_records.update_one({"_id.key": key}, stuck).modified_count == 1
    busy = client.post(client.path, json=body, headers={"Idempotency-Key": key})
    assert_problem(busy, 409, title="Conflict")
    assert 5 <= int(busy.headers["retry-after"]) <= 6
    # Once the lease has expired, a retry takes over and finds the item already stored.
    expired = {"$set": {"lease_until": now - timedelta(seconds=1)}}
    assert key_records.update_one({"_id.key": key}, expired).modified_count == 1
    retry = client.post(client.path, json=body, headers={"Idempotency-Key": key})
    assert retry.status_code == 201, retry.text
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["location"] == first.headers["location"]
    assert count_named(client, body["name"]) == 1


def test_post_without_a_key_is_not_deduplicated(client: ResourceClient) -> None:
    body = keyed_body(client)
    assert client.post(client.path, json=body).status_code == 201
    assert_problem(client.post(client.path, json=body), 409)
    assert count_named(client, body["name"]) == 1


@pytest.mark.parametrize(
    "value", ["", '""', '"', '"open', "two words", r'"bad \escape"', "k" * 256, '"a"b"']
)
def test_post_with_a_malformed_key_is_422_and_stores_nothing(
    client: ResourceClient, value: str
) -> None:
    body = keyed_body(client)
    problem = assert_problem(
        client.post(client.path, json=body, headers={"Idempotency-Key": value}), 422
    )
    assert problem["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert count_named(client, body["name"]) == 0


def test_post_with_two_idempotency_keys_is_400_and_stores_nothing(client: ResourceClient) -> None:
    """IETF draft section 2.1: one key per request (gunicorn joins two lines into a list)."""
    body = keyed_body(client)
    headers = [("Idempotency-Key", new_key()), ("Idempotency-Key", new_key())]
    problem = assert_problem(client.post(client.path, json=body, headers=headers), 400)
    assert "one Idempotency-Key" in problem["detail"]
    assert count_named(client, body["name"]) == 0


def test_a_key_record_past_its_retention_is_never_replayed(
    client: ResourceClient, key_records: Collection[dict[str, Any]]
) -> None:
    """MongoDB's TTL monitor deletes expired records only once a minute: expired is absent."""
    key, body = new_key(), keyed_body(client)
    assert client.post(client.path, json=body, headers={"Idempotency-Key": key}).status_code == 201
    expired = {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
    assert key_records.update_one({"_id.key": key}, expired).modified_count == 1
    retry = client.post(client.path, json=body, headers={"Idempotency-Key": key})
    assert_problem(retry, 409)  # a new request: the name is taken; no replay
    assert count_named(client, body["name"]) == 1


def test_a_replay_after_delete_repeats_the_first_answer_whose_location_is_gone(
    client: ResourceClient,
) -> None:
    """A replay is the first answer as it was (README: "Safe retries"), not today's state."""
    key, body = new_key(), keyed_body(client)
    first = client.post(client.path, json=body, headers={"Idempotency-Key": key})
    assert client.delete(first.headers["location"]).status_code == 204
    replayed = client.post(client.path, json=body, headers={"Idempotency-Key": key})
    assert (replayed.status_code, replayed.json()) == (201, first.json())
    assert replayed.headers["location"] == first.headers["location"]
    assert_problem(client.get(replayed.headers["location"]), 404)
