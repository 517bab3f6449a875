"""API-key access: configured keys pass with their scopes, anything else gets 401."""

import json

import pytest

from {{ cookiecutter.package_name }}.core.access import AccessError, Policy, Principal, load_policy
from {{ cookiecutter.package_name }}.core.settings import SettingsError

KEY = "k" * 40
KEYS = [
    {"id": "reader", "key": KEY, "scopes": ["things:read"]},
    {"id": "writer", "key": "w" * 40, "scopes": ["things:read", "things:write"]},
]


@pytest.fixture
def policy() -> Policy:
    """Return a policy with two keys."""
    return load_policy(auth_api_keys=KEYS)


def refusal(policy: Policy, *values: str, query: str = "") -> AccessError:
    """Return the AccessError authenticating `values` raises."""
    with pytest.raises(AccessError) as caught:
        policy.authenticate(list(values), query)
    return caught.value


def test_configured_key_names_its_id_and_scopes(policy: Policy) -> None:
    assert policy.authenticate([KEY], "") == Principal("reader", frozenset({"things:read"}))


@pytest.mark.parametrize("value", ["k" * 39, "k" * 41, "K" * 40, "x" + "k" * 39, ""])
def test_wrong_key_is_401_invalid_key(policy: Policy, value: str) -> None:
    error = refusal(policy, value)
    assert error.status == 401
    assert error.headers["WWW-Authenticate"] == ('ApiKey realm="{{ cookiecutter.project_slug }}", error="invalid_key"')


def test_missing_key_is_401_with_a_bare_challenge(policy: Policy) -> None:
    assert refusal(policy).headers["WWW-Authenticate"] == 'ApiKey realm="{{ cookiecutter.project_slug }}"'


def test_two_key_headers_are_refused(policy: Policy) -> None:
    assert 'error="invalid_request"' in refusal(policy, KEY, KEY).headers["WWW-Authenticate"]


def test_key_in_the_query_string_is_refused(policy: Policy) -> None:
    assert "never in the URL" in refusal(policy, KEY, query=f"api_key={KEY}").detail


def test_missing_scope_is_403_insufficient_scope(policy: Policy) -> None:
    with pytest.raises(AccessError) as caught:
        policy.authorize(policy.authenticate([KEY], ""), "things:write")
    assert caught.value.status == 403
    assert 'scope="things:write"' in caught.value.headers["WWW-Authenticate"]


def test_keys_never_show_in_repr_or_errors(policy: Policy) -> None:
    assert KEY not in repr(policy.settings)
    assert KEY not in str(policy.settings.model_dump())


@pytest.mark.parametrize(
    "keys",
    [
        [],
        [{"id": "short", "key": "k" * 31, "scopes": []}],
        [{"id": "bad id", "key": KEY, "scopes": []}],
        [{"id": "a", "key": KEY, "scopes": []}, {"id": "a", "key": "w" * 40, "scopes": []}],
        [{"id": "a", "key": KEY, "scopes": []}, {"id": "b", "key": KEY, "scopes": []}],
    ],
    ids=["none", "short", "bad-id", "same-id", "same-key"],
)
def test_misconfiguration_names_the_setting_and_never_the_key(keys: list[object]) -> None:
    with pytest.raises(SettingsError, match="AUTH_API_KEYS") as caught:
        load_policy(auth_api_keys=json.loads(json.dumps(keys)))
    assert KEY not in str(caught.value)
