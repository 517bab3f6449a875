"""Bearer-token access: valid tokens pass, hostile ones get 401, missing keys 503."""

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from {{ cookiecutter.package_name }}.access import (
    AccessError,
    Policy,
    Principal,
    RefreshNeeded,
    load_policy,
)
from {{ cookiecutter.package_name }}.settings import SettingsError
from tests.issuer import Issuer


def authenticate(policy: Policy, *values: str, query: str = "") -> Principal:
    """Authenticate as the guard does: fetch the keys when asked to, then once more."""
    try:
        return policy.authenticate(list(values), query)
    except RefreshNeeded:
        policy.refresh()
        return policy.authenticate(list(values), query)


def refusal(policy: Policy, *values: str, query: str = "") -> AccessError:
    """Return the AccessError authenticating `values` raises."""
    with pytest.raises(AccessError) as caught:
        authenticate(policy, *values, query=query)
    return caught.value


def b64(data: bytes) -> str:
    """Return `data` base64url-encoded without padding (JWS segments)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def policy() -> Policy:
    """Return the policy the environment (the test issuer) configures."""
    return load_policy()


def test_valid_token_names_its_subject_and_scopes(policy: Policy, issuer: Issuer) -> None:
    principal = authenticate(policy, f"Bearer {issuer.token(scope='things:read extra')}")
    assert principal == Principal("user-42", frozenset({"things:read", "extra"}), issuer.url)


def test_ec_key_and_scp_claim_are_accepted(policy: Policy, issuer: Issuer) -> None:
    token = issuer.token(kid="ec-1", scope=None, scp=["a", "b"])
    assert authenticate(policy, f"Bearer {token}").scopes == {"a", "b"}


def test_scheme_is_case_insensitive_and_spaces_are_allowed(policy: Policy, issuer: Issuer) -> None:
    token = issuer.token()
    assert authenticate(policy, f"bearer {token}").subject == "user-42"
    assert authenticate(policy, f"Bearer    {token}").subject == "user-42"


def test_missing_token_is_401_with_a_bare_challenge(policy: Policy) -> None:
    error = refusal(policy)
    assert error.status == 401
    assert error.headers["WWW-Authenticate"] == 'Bearer realm="{{ cookiecutter.project_slug }}"'


@pytest.mark.parametrize(
    "value",
    ["Bearer Bearer {token}", "Basic {token}", "Bearer", "Bearer {token} extra", "{token}"],
)
def test_malformed_header_is_401_invalid_request(
    policy: Policy, issuer: Issuer, value: str
) -> None:
    error = refusal(policy, value.format(token=issuer.token()))
    assert error.status == 401
    assert 'error="invalid_request"' in error.headers["WWW-Authenticate"]


def test_two_authorization_headers_are_refused(policy: Policy, issuer: Issuer) -> None:
    token = issuer.token()
    assert (
        'error="invalid_request"'
        in refusal(policy, f"Bearer {token}", f"Bearer {token}").headers["WWW-Authenticate"]
    )


def test_token_in_the_query_string_is_refused(policy: Policy, issuer: Issuer) -> None:
    error = refusal(policy, f"Bearer {issuer.token()}", query=f"access_token={issuer.token()}")
    assert error.status == 401
    assert "never in the URL" in error.detail


def test_oversized_token_is_refused_before_parsing(policy: Policy, issuer: Issuer) -> None:
    token = issuer.token(padding="x" * 9000)
    assert refusal(policy, f"Bearer {token}").detail == "The token is too large."


def test_alg_none_is_refused(policy: Policy, issuer: Issuer) -> None:
    header = b64(json.dumps({"alg": "none", "kid": "rsa-1", "typ": "JWT"}).encode())
    payload = b64(json.dumps(issuer.claims(scope="things:read")).encode())
    error = refusal(policy, f"Bearer {header}.{payload}.")
    assert 'error="invalid_token"' in error.headers["WWW-Authenticate"]


def test_hs256_signed_with_the_public_key_is_refused(policy: Policy, issuer: Issuer) -> None:
    public_pem = (
        issuer.keys["rsa-1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    payload = b64(json.dumps(issuer.claims()).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert refusal(policy, f"Bearer {header}.{payload}.{b64(signature)}").status == 401


def test_tampered_payload_is_refused(policy: Policy, issuer: Issuer) -> None:
    header, _, signature = issuer.token(scope="things:read").split(".")
    forged = b64(json.dumps(issuer.claims(scope="things:read things:write")).encode())
    assert refusal(policy, f"Bearer {header}.{forged}.{signature}").status == 401


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 3600},  # expired (beyond the leeway)
        {"nbf": int(time.time()) + 3600},  # not valid yet
        {"iat": int(time.time()) + 3600},  # issued in the future
        {"iss": "https://other.example/"},
        {"aud": "another-api"},
        {"exp": None},  # required claims missing
        {"sub": None},
    ],
    ids=["expired", "nbf-future", "iat-future", "wrong-iss", "wrong-aud", "no-exp", "no-sub"],
)
def test_bad_claims_are_refused(policy: Policy, issuer: Issuer, claims: dict[str, Any]) -> None:
    error = refusal(policy, f"Bearer {issuer.token(**claims)}")
    assert error.status == 401
    assert 'error="invalid_token"' in error.headers["WWW-Authenticate"]


def test_expiry_within_the_leeway_is_accepted(policy: Policy, issuer: Issuer) -> None:
    token = issuer.token(exp=int(time.time()) - 5)
    assert authenticate(policy, f"Bearer {token}").subject == "user-42"


def test_unknown_kid_refetches_once_then_401_and_a_flood_does_not_refetch(
    policy: Policy, issuer: Issuer
) -> None:
    authenticate(policy, f"Bearer {issuer.token()}")  # the first fetch
    before = issuer.fetches
    for number in range(50):
        error = refusal(policy, f"Bearer {issuer.token(kid=f'made-up-{number}')}")
        assert error.status == 401
    assert issuer.fetches - before <= 1


def test_unknown_kid_after_the_interval_finds_a_rotated_key(issuer: Issuer) -> None:
    policy = load_policy(auth_jwks_refresh_s=1)
    authenticate(policy, f"Bearer {issuer.token()}")
    issuer.keys["rsa-2"] = issuer.keys["rsa-1"]
    try:
        policy.keys.tried_at -= 1  # the interval has passed
        assert authenticate(policy, f"Bearer {issuer.token(kid='rsa-2')}").subject == "user-42"
    finally:
        del issuer.keys["rsa-2"]


def test_without_a_jwks_url_the_keys_are_found_by_oidc_discovery(issuer: Issuer) -> None:
    policy = load_policy(auth_jwt_jwks_url="")
    assert authenticate(policy, f"Bearer {issuer.token()}").subject == "user-42"


def test_unreachable_issuer_without_keys_is_503(issuer: Issuer) -> None:
    policy = load_policy(auth_jwt_jwks_url="http://127.0.0.1:9/jwks.json", auth_jwks_timeout_s=0.5)
    error = refusal(policy, f"Bearer {issuer.token()}")
    assert error.status == 503
    assert error.headers["Retry-After"] == "60"


def test_keys_are_kept_when_the_issuer_goes_down(policy: Policy, issuer: Issuer) -> None:
    authenticate(policy, f"Bearer {issuer.token()}")
    issuer.up = False
    try:
        policy.keys.tried_at -= 3600  # a refetch is due, and fails
        assert authenticate(policy, f"Bearer {issuer.token()}").subject == "user-42"
    finally:
        issuer.up = True


def forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any signature check from now on fail: only remembered tokens pass."""

    def decode(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise jwt.InvalidSignatureError("checked again")

    monkeypatch.setattr(jwt, "decode", decode)


def test_a_verified_token_is_remembered_within_a_bounded_cache(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = load_policy(auth_jwt_cache_size=2)
    tokens = [issuer.token(scope=f"s{number}") for number in range(3)]
    for token in tokens:
        authenticate(policy, f"Bearer {token}")
    forbid_decoding(monkeypatch)
    assert authenticate(policy, f"Bearer {tokens[2]}").scopes == {"s2"}
    assert authenticate(policy, f"Bearer {tokens[1]}").scopes == {"s1"}
    assert refusal(policy, f"Bearer {tokens[0]}").status == 401  # the oldest was dropped


def test_a_cache_size_of_zero_checks_every_request(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = load_policy(auth_jwt_cache_size=0)
    token = issuer.token()
    authenticate(policy, f"Bearer {token}")
    forbid_decoding(monkeypatch)
    assert refusal(policy, f"Bearer {token}").status == 401


def test_a_remembered_token_still_expires(issuer: Issuer) -> None:
    policy = load_policy(auth_jwt_leeway_s=0)
    expires = int(time.time()) + 1
    token = issuer.token(iat=expires - 60, nbf=expires - 60, exp=expires)
    assert authenticate(policy, f"Bearer {token}").subject == "user-42"
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    error = refusal(policy, f"Bearer {token}")
    assert error.status == 401
    assert "ExpiredSignatureError" in error.detail


def test_a_remembered_token_is_refused_once_its_key_is_rotated_out(issuer: Issuer) -> None:
    policy = load_policy(auth_jwks_refresh_s=1)
    issuer.keys["rsa-2"] = issuer.keys["rsa-1"]
    try:
        token = issuer.token(kid="rsa-2")
        assert authenticate(policy, f"Bearer {token}").subject == "user-42"
    finally:
        del issuer.keys["rsa-2"]
    policy.keys.tried_at -= 3600  # the keys are old: the next request refetches them
    policy.keys.fetched_at = (policy.keys.fetched_at or 0) - 3600
    error = refusal(policy, f"Bearer {token}")
    assert error.status == 401
    assert "unknown key" in error.detail


def test_missing_scope_is_403_insufficient_scope(policy: Policy) -> None:
    with pytest.raises(AccessError) as caught:
        policy.authorize(Principal("u", frozenset({"things:read"})), "things:write")
    assert caught.value.status == 403
    challenge = caught.value.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="things:write"' in challenge


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"auth_jwt_algorithms": "HS256"}, "AUTH_JWT_ALGORITHMS"),
        ({"auth_jwt_algorithms": "none"}, "AUTH_JWT_ALGORITHMS"),
        ({"auth_jwt_issuer": ""}, "AUTH_JWT_ISSUER"),
        ({"auth_jwt_jwks_url": "file:///etc/passwd"}, "AUTH_JWT_JWKS_URL"),
        ({"auth_read_scope": "{resource}:read"}, "AUTH_READ_SCOPE"),
    ],
)
def test_misconfiguration_names_the_setting(overrides: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_policy(**overrides)
