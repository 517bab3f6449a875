"""API-key access: configured keys pass with their scopes, anything else gets 401."""

import json
import secrets
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from {{ cookiecutter.package_name }}.core.access import (
    PLACEHOLDER_KEY,
    AccessError,
    AccessSettings,
    Policy,
    Principal,
    load_policy,
)
from {{ cookiecutter.package_name }}.core.logs import configure_logging
from {{ cookiecutter.package_name }}.core.settings import ENV_PREFIX, SettingsError

PROJECT = Path(__file__).resolve().parents[2]
KEY = secrets.token_urlsafe(32)
KEYS = [
    {"id": "reader", "key": KEY, "scopes": ["things:read"]},
    {"id": "writer", "key": secrets.token_urlsafe(32), "scopes": ["things:read", "things:write"]},
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
    assert policy.authenticate([f"  {KEY} "], "").subject == "reader"  # the header is trimmed


@pytest.mark.parametrize("value", [KEY[:-1], KEY + "k", KEY.swapcase(), "x" + KEY[1:], ""])
def test_wrong_key_is_401_invalid_key(policy: Policy, value: str) -> None:
    error = refusal(policy, value)
    assert error.status == 401
    assert error.headers["WWW-Authenticate"] == ('ApiKey realm="{{ cookiecutter.project_slug }}", error="invalid_key"')


def test_missing_key_is_401_with_a_bare_challenge(policy: Policy) -> None:
    assert refusal(policy).headers["WWW-Authenticate"] == 'ApiKey realm="{{ cookiecutter.project_slug }}"'


def test_two_key_headers_are_refused(policy: Policy) -> None:
    assert 'error="invalid_request"' in refusal(policy, KEY, KEY).headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "query", ["api_key={key}", "apikey={key}", "APIKEY=", "q=1&Api_Key=x", "access_token=x"]
)
@pytest.mark.parametrize("with_header", [True, False], ids=["with-header", "no-header"])
def test_key_in_the_query_string_is_refused_first(
    policy: Policy, query: str, with_header: bool
) -> None:
    error = refusal(policy, *([KEY] if with_header else []), query=query.format(key=KEY))
    assert 'error="invalid_request"' in error.headers["WWW-Authenticate"]
    assert "never in the URL" in error.detail


def test_other_query_parameters_are_no_credentials(policy: Policy) -> None:
    assert policy.authenticate([KEY], "keyword=a&monkey=b").subject == "reader"


def test_missing_scope_is_403_insufficient_scope(policy: Policy) -> None:
    with pytest.raises(AccessError) as caught:
        policy.authorize(policy.authenticate([KEY], ""), "things:write")
    assert caught.value.status == 403
    assert 'scope="things:write"' in caught.value.headers["WWW-Authenticate"]


def test_keys_never_show_in_repr_or_errors(policy: Policy) -> None:
    assert KEY not in repr(policy.settings)
    assert KEY not in str(policy.settings.model_dump())


def test_a_disabled_key_is_refused_and_logged_by_its_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy = load_policy(auth_api_keys=[{**KEYS[0], "disabled": True}, KEYS[1]])
    configure_logging("INFO", "json")
    capsys.readouterr()
    error = refusal(policy, KEY)
    assert (error.status, error.detail) == (401, "The API key is not valid.")
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    refused = [event for event in events if event.get("event") == "disabled api key refused"]
    assert [event["key_id"] for event in refused] == ["reader"]
    assert KEY not in json.dumps(events)


@pytest.mark.parametrize(
    "keys",
    [
        [],
        [{"id": "short", "key": "k" * 31, "scopes": []}],
        [{"id": "bad id", "key": KEY, "scopes": []}],
        [{"id": "a", "key": KEY, "scopes": []}, {"id": "a", "key": KEYS[1]["key"], "scopes": []}],
        [{"id": "a", "key": KEY, "scopes": []}, {"id": "b", "key": KEY, "scopes": []}],
        [{"id": "blanks", "key": f" {KEY} ", "scopes": []}],
        [{"id": "spaces", "key": " " * 32, "scopes": []}],
        [{"id": "revoked", "key": KEY, "scopes": [], "revoked": True}],
    ],
    ids=["none", "short", "bad-id", "same-id", "same-key", "blanks", "spaces", "unknown-field"],
)
@pytest.mark.parametrize("environment", ["production", "development"])
def test_misconfiguration_names_the_setting_and_never_the_key(
    keys: list[object], environment: str
) -> None:
    with pytest.raises(
        SettingsError, match=f"^invalid setting {ENV_PREFIX}AUTH_API_KEYS"
    ) as caught:
        load_policy(auth_api_keys=json.loads(json.dumps(keys)), environment=environment)
    assert KEY not in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (PLACEHOLDER_KEY, "placeholder"),
        ("a" * 32, "distinct"),
        ("0123456789abcde" * 3, "distinct"),  # 45 characters, 15 distinct
    ],
    ids=["placeholder", "one-character", "fifteen-characters"],
)
def test_production_refuses_keys_that_are_not_secret(key: str, reason: str) -> None:
    keys: list[dict[str, Any]] = [{"id": "weak", "key": key, "scopes": []}]
    with pytest.raises(SettingsError, match=reason) as caught:
        load_policy(auth_api_keys=keys, environment="production")
    assert f"{ENV_PREFIX}AUTH_API_KEYS: " in str(caught.value)
    assert "key 'weak'" in str(caught.value)
    assert key not in str(caught.value)
    assert load_policy(auth_api_keys=keys, environment="development").authenticate([key], "")


def test_sixteen_distinct_characters_are_enough_in_production() -> None:
    keys = [{"id": "ok", "key": "0123456789abcdef" * 2, "scopes": []}]
    assert load_policy(auth_api_keys=keys, environment="production").authenticate(
        ["0123456789abcdef" * 2], ""
    )


def test_an_unknown_field_is_named_with_its_place() -> None:
    keys = [KEYS[0], {**KEYS[1], "revoked": True}]
    with pytest.raises(SettingsError) as caught:
        load_policy(auth_api_keys=keys)
    assert str(caught.value) == (
        f"invalid setting {ENV_PREFIX}AUTH_API_KEYS[1].revoked: Extra inputs are not permitted"
    )


def test_env_example_copied_to_env_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """`.env.example` says production and shows the public placeholder key: no service."""
    monkeypatch.delenv(f"{ENV_PREFIX}AUTH_API_KEYS")
    monkeypatch.delenv(f"{ENV_PREFIX}ENVIRONMENT", raising=False)
    with pytest.raises(SettingsError, match=r"placeholder of \.env\.example"):
        load_policy(_env_file=PROJECT / ".env.example")


def test_env_example_lists_every_access_setting() -> None:
    example = (PROJECT / ".env.example").read_text()
    names = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    assert {f"{ENV_PREFIX}{field.upper()}" for field in AccessSettings.model_fields} <= names


def make_dev_env(directory: Path) -> None:
    """Run `scripts/dev_access.py env` (what `make dev-env` runs) in `directory`."""
    subprocess.run(  # noqa: S603 (this project's own script)
        [sys.executable, str(PROJECT / "scripts" / "dev_access.py"), "env"],
        cwd=directory,
        capture_output=True,
        timeout=60,
        check=True,
    )


def test_make_dev_env_writes_a_key_the_service_accepts_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_dev_env(tmp_path)
    key = (tmp_path / ".dev" / "api-key").read_text().strip()
    assert stat.S_IMODE((tmp_path / ".dev" / "api-key").stat().st_mode) == 0o600
    monkeypatch.delenv(f"{ENV_PREFIX}AUTH_API_KEYS")
    policy = load_policy(_env_file=tmp_path / ".env")
    assert policy.settings.environment == "development"
    assert policy.authenticate([key], "").subject == "dev"
    assert isinstance(policy.settings.auth_api_keys[0].key, SecretStr)
    written = (tmp_path / ".env").read_text()
    make_dev_env(tmp_path)
    assert (tmp_path / ".env").read_text() == written  # an existing .env is kept
