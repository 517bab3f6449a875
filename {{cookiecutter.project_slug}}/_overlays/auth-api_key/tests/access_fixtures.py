"""Access fixtures of the `api_key` mode: configured keys, a caller's headers."""

import json
import secrets
from collections.abc import Callable, Iterator

import pytest
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.core.access import load_policy
from {{ cookiecutter.package_name }}.core.guard import resource_scopes
from {{ cookiecutter.package_name }}.core.settings import ENV_PREFIX

from tests.shapes import SERVED

# Made per session, never written anywhere: test keys are as secret as real ones.
# `token_urlsafe(32)`: 43 characters of a 64-letter alphabet, as production requires.
KEYS: dict[tuple[str, ...], tuple[str, str]] = {}
# A second caller allowed everything: another key id than `key_for(*every scope)`.
ANOTHER = ("another", secrets.token_urlsafe(32))
DISABLED_KEY = ("test-disabled", secrets.token_urlsafe(32))
"""A key with every scope, switched off (`"disabled": true`)."""


def key_for(*scopes: str) -> tuple[str, str]:
    """Return (id, key) of the session's key granting exactly `scopes` (made on first use)."""
    wanted = tuple(sorted(scopes))
    if wanted not in KEYS:
        KEYS[wanted] = (f"test-{len(KEYS)}", secrets.token_urlsafe(32))
    return KEYS[wanted]


def scopes_of_every_resource() -> list[str]:
    """Return every scope of every resource under the default scope names."""
    keys = [{"id": "bootstrap", "key": secrets.token_urlsafe(32), "scopes": []}]
    policy = load_policy(auth_api_keys=keys)
    return [scope for resource in SERVED for scope in resource_scopes(policy, resource)]


def keys_setting() -> str:
    """Return `AUTH_API_KEYS` as JSON: one key per scope set the tests use, one disabled."""
    every = scopes_of_every_resource()
    for scopes in ([], every, *([scope] for scope in every)):
        key_for(*scopes)
    keys = [{"id": kid, "key": key, "scopes": list(scopes)} for scopes, (kid, key) in KEYS.items()]
    kid, key = DISABLED_KEY
    another = {"id": ANOTHER[0], "key": ANOTHER[1], "scopes": every}
    disabled = {"id": kid, "key": key, "scopes": every, "disabled": True}
    return json.dumps([*keys, another, disabled])


@pytest.fixture(scope="session", autouse=True)
def access_environment() -> Iterator[None]:
    """Configure the service's keys in its environment (as an operator would)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(f"{ENV_PREFIX}AUTH_API_KEYS", keys_setting())
        yield


@pytest.fixture
def credentials_for() -> Callable[..., dict[str, str]]:
    """Return `make(*scopes) -> headers` of a caller holding exactly `scopes`."""

    def make(*scopes: str) -> dict[str, str]:
        return {"X-API-Key": key_for(*scopes)[1]}

    return make


@pytest.fixture
def all_scopes() -> list[str]:
    """Return every scope of every resource (the policy's default names)."""
    return scopes_of_every_resource()


@pytest.fixture
def forged_credentials() -> st.SearchStrategy[dict[str, str]]:
    """Return a strategy of `X-API-Key` headers the service refuses: made-up keys of any
    length and printable characters, and the disabled key."""
    made_up = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=300)
    return (st.just(DISABLED_KEY[1]) | made_up).map(lambda key: {"X-API-Key": key.strip()})


@pytest.fixture
def credentials(
    credentials_for: Callable[..., dict[str, str]], all_scopes: list[str]
) -> dict[str, str]:
    """Return the headers of a caller allowed everything (the API tests' client sends them)."""
    return credentials_for(*all_scopes)


@pytest.fixture
def another_caller() -> dict[str, str]:
    """Return the headers of a second caller allowed everything (another key id)."""
    return {"X-API-Key": ANOTHER[1]}
