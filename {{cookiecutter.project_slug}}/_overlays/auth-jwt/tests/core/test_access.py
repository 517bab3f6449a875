"""Bearer-token access: valid tokens pass, hostile ones get 401, missing keys 503."""

import base64
import hashlib
import hmac
import json
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from {{ cookiecutter.package_name }}.core.access import (
    RSA_ALGORITHMS,
    AccessError,
    AccessSettings,
    KeySet,
    Policy,
    Principal,
    RefreshNeeded,
    issuer_key,
    load_policy,
)
from {{ cookiecutter.package_name }}.core.settings import ENV_PREFIX, SettingsError

from tests.issuer import Issuer

PROJECT = Path(__file__).resolve().parents[2]
# How long past a fetch's deadline a request may still wait: the deadline's timer and the
# waiting thread must both be scheduled, on a loaded machine too.
DEADLINE_MARGIN_S = 1.0


class FakeClock:
    """A clock the test moves by hand (the `clock` of `KeySet` and `Policy`)."""

    def __init__(self, now: float) -> None:
        """Start at `now` (seconds)."""
        self.now = now

    def __call__(self) -> float:
        """Return the time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock on by `seconds`."""
        self.now += seconds


def authenticate(policy: Policy, *values: str, query: str = "") -> Principal:
    """Authenticate as the guard does: wait for the key fetch when asked to, then once more."""
    try:
        return policy.authenticate(list(values), query)
    except RefreshNeeded as needed:
        needed.fetch.result(timeout=30)
        return policy.authenticate(list(values), query, may_fetch=False)


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


@pytest.fixture
def own_issuer() -> Iterator[Issuer]:
    """Serve an issuer of the test's own, free to go down or drip."""
    server = Issuer()
    yield server
    server.stop()


def policy_of(issuer: Issuer, clock: FakeClock | None = None, **overrides: Any) -> Policy:
    """Return a policy trusting `issuer`, its key set on `clock` (default: the real one)."""
    at_issuer = {"auth_jwt_issuer": issuer.url, "auth_jwt_jwks_url": issuer.jwks_url}
    settings = AccessSettings(**{**at_issuer, **overrides})
    if clock is None:
        return Policy(settings)
    return Policy(settings, KeySet(settings, clock=clock))


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


@pytest.mark.parametrize(
    "query",
    ["access_token={token}", "api_key=x", "apikey=", "q=1&Access_Token=x", "API%5FKEY=x"],
)
@pytest.mark.parametrize("with_header", [True, False], ids=["with-header", "no-header"])
def test_credentials_in_the_query_string_are_refused_first(
    policy: Policy, issuer: Issuer, query: str, with_header: bool
) -> None:
    token = issuer.token()
    values = [f"Bearer {token}"] if with_header else []
    error = refusal(policy, *values, query=query.format(token=token))
    assert error.status == 401
    assert 'error="invalid_request"' in error.headers["WWW-Authenticate"]
    assert "never in the URL" in error.detail


def test_other_query_parameters_are_no_credentials(policy: Policy, issuer: Issuer) -> None:
    token = issuer.token()
    assert authenticate(policy, f"Bearer {token}", query="keyword=a&tokens=2").subject == "user-42"


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


def test_every_forged_token_is_401_invalid_token(issuer: Issuer) -> None:
    """ES256 naming the RSA key (and the reverse), junk signatures, odd headers: 401s.

    PS256 is allowed too, so that an RSA algorithm naming the EC key gets as far as
    the key lookup. Each outcome is collected: a failure shows the whole table.
    """
    policy = load_policy(auth_jwt_algorithms="RS256,ES256,PS256")
    outcomes = {}
    for name, token in issuer.forgeries().items():
        try:
            outcomes[name] = f"accepted as {authenticate(policy, f'Bearer {token}')}"
        except AccessError as error:
            outcomes[name] = f"{error.status} {error.headers.get('WWW-Authenticate', '')}"
        except Exception as error:  # the bug this test is for: a 500
            outcomes[name] = f"raised {type(error).__name__}: {error}"
    refused = '401 Bearer realm="{{ cookiecutter.project_slug }}", error="invalid_token"'
    assert outcomes == dict.fromkeys(outcomes, refused)


def algorithms_of(jwk: dict[str, Any]) -> frozenset[str] | None:
    """Return the algorithms the key `jwk` may verify, None if it is left out."""
    key = issuer_key(jwk)
    return None if key is None else key.algorithms


def test_each_key_verifies_only_the_algorithms_of_its_type(issuer: Issuer) -> None:
    rsa_jwk, ec_jwk = issuer.jwks()["keys"]
    assert algorithms_of(rsa_jwk) == RSA_ALGORITHMS
    assert algorithms_of(ec_jwk) == frozenset({"ES256"})
    assert algorithms_of({**rsa_jwk, "alg": "PS256"}) == frozenset({"PS256"})
    unusable = [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},  # a shared secret
        {**rsa_jwk, "use": "enc"},
        {**rsa_jwk, "alg": ["RS256"]},
        {**ec_jwk, "alg": "RS256"},
        {"kid": "nothing"},
    ]
    assert [algorithms_of(jwk) for jwk in unusable] == [None] * len(unusable)


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


def test_unknown_kid_after_the_interval_finds_a_rotated_key(own_issuer: Issuer) -> None:
    clock = FakeClock(0.0)
    policy = policy_of(own_issuer, clock, auth_jwks_refresh_s=60)
    authenticate(policy, f"Bearer {own_issuer.token()}")
    own_issuer.keys["rsa-2"] = own_issuer.keys["rsa-1"]
    assert refusal(policy, f"Bearer {own_issuer.token(kid='rsa-2')}").status == 401  # too soon
    clock.advance(60)
    assert authenticate(policy, f"Bearer {own_issuer.token(kid='rsa-2')}").subject == "user-42"


def test_without_a_jwks_url_the_keys_are_found_by_oidc_discovery(issuer: Issuer) -> None:
    policy = load_policy(auth_jwt_jwks_url="")
    assert authenticate(policy, f"Bearer {issuer.token()}").subject == "user-42"


def test_unreachable_issuer_without_keys_is_503_retry_after_the_retry_pause(
    issuer: Issuer,
) -> None:
    policy = load_policy(auth_jwt_jwks_url="http://127.0.0.1:9/jwks.json", auth_jwks_retry_s=2.5)
    error = refusal(policy, f"Bearer {issuer.token()}")
    assert error.status == 503
    assert error.headers["Retry-After"] == "3"


@pytest.mark.parametrize("discovery", [False, True], ids=["jwks-url", "oidc-discovery"])
def test_a_fetch_has_one_deadline_however_slowly_the_issuer_answers(
    own_issuer: Issuer, discovery: bool
) -> None:
    """A key server that sends a byte every 50 ms never times out a read; the deadline holds."""
    own_issuer.drip, own_issuer.drip_interval_s = True, 0.05
    overrides: dict[str, Any] = {"auth_jwt_jwks_url": ""} if discovery else {}
    policy = policy_of(own_issuer, None, auth_jwks_timeout_s=0.5, **overrides)
    started = time.monotonic()
    error = refusal(policy, f"Bearer {own_issuer.token()}")
    waited = time.monotonic() - started
    assert error.status == 503
    assert 0.5 <= waited < 0.5 + DEADLINE_MARGIN_S


def test_requests_waiting_for_keys_share_one_fetch(own_issuer: Issuer) -> None:
    own_issuer.drip, own_issuer.drip_interval_s = True, 0.05
    # A long pause after the failure: a caller that comes late gets 503 without a fetch.
    policy = policy_of(own_issuer, auth_jwks_timeout_s=0.5, auth_jwks_retry_s=60)
    statuses: list[int] = []

    def call() -> None:
        statuses.append(refusal(policy, f"Bearer {own_issuer.token()}").status)

    callers = [threading.Thread(target=call) for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=30)
    assert statuses == [503] * 8
    assert (policy.keys.fetches, own_issuer.fetches) == (1, 1)


def test_a_failed_fetch_is_retried_after_the_retry_pause(own_issuer: Issuer) -> None:
    clock = FakeClock(0.0)
    policy = policy_of(own_issuer, clock, auth_jwks_retry_s=1, auth_jwks_refresh_s=3600)
    own_issuer.up = False
    assert refusal(policy, f"Bearer {own_issuer.token()}").status == 503
    own_issuer.up = True
    assert refusal(policy, f"Bearer {own_issuer.token()}").status == 503  # within the pause
    assert policy.keys.fetches == 1
    clock.advance(1)  # not AUTH_JWKS_REFRESH_S
    assert authenticate(policy, f"Bearer {own_issuer.token()}").subject == "user-42"
    assert policy.keys.fetches == 2


def test_old_keys_keep_serving_while_they_are_fetched_again(own_issuer: Issuer) -> None:
    clock = FakeClock(0.0)
    policy = policy_of(own_issuer, clock, auth_jwks_timeout_s=2, auth_jwt_cache_size=0)
    authenticate(policy, f"Bearer {own_issuer.token()}")
    own_issuer.drip, own_issuer.drip_interval_s = True, 0.05
    clock.advance(3600)  # AUTH_JWKS_MAX_AGE_S: the keys are old
    started = time.monotonic()
    assert authenticate(policy, f"Bearer {own_issuer.token()}").subject == "user-42"
    assert time.monotonic() - started < 1  # did not wait for the (dripping) fetch's 2 s
    assert policy.keys.fetches == 2
    policy.keys.fetch().result(timeout=30)  # the background fetch fails at its deadline
    assert authenticate(policy, f"Bearer {own_issuer.token()}").subject == "user-42"


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


def test_a_remembered_token_is_checked_again_once_it_expires(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The policy's clock, not the wall clock, says when a remembered token has expired."""
    now = FakeClock(time.time())
    policy = Policy(AccessSettings(auth_jwt_leeway_s=0), clock=now)
    expires = int(now()) + 60
    token = issuer.token(exp=expires)
    assert authenticate(policy, f"Bearer {token}").subject == "user-42"
    forbid_decoding(monkeypatch)
    now.now = expires - 0.5
    assert authenticate(policy, f"Bearer {token}").subject == "user-42"  # still remembered
    now.now = expires
    error = refusal(policy, f"Bearer {token}")
    assert (error.status, error.detail) == (401, "The token is not valid (InvalidSignatureError).")


def test_a_remembered_token_is_refused_once_its_key_is_rotated_out(own_issuer: Issuer) -> None:
    clock = FakeClock(0.0)
    policy = policy_of(own_issuer, clock)
    own_issuer.keys["rsa-2"] = own_issuer.keys["rsa-1"]
    token = own_issuer.token(kid="rsa-2")
    assert authenticate(policy, f"Bearer {token}").subject == "user-42"
    del own_issuer.keys["rsa-2"]
    clock.advance(3600)  # the keys are old: this request refetches them in the background
    assert authenticate(policy, f"Bearer {token}").subject == "user-42"
    policy.keys.fetch().result(timeout=30)
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
        ({"auth_jwks_retry_s": 0}, "AUTH_JWKS_RETRY_S"),
        ({"auth_jwt_dev_issuer": True, "environment": "production"}, "AUTH_JWT_DEV_ISSUER"),
    ],
)
def test_misconfiguration_names_the_setting(overrides: dict[str, Any], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable) as caught:
        load_policy(**overrides)
    assert "\n" not in str(caught.value)


def test_env_example_lists_every_access_setting() -> None:
    example = (PROJECT / ".env.example").read_text()
    names = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    assert {f"{ENV_PREFIX}{field.upper()}" for field in AccessSettings.model_fields} <= names


def dev_access(directory: Path, *args: str) -> str:
    """Run `scripts/dev_access.py ARGS` (what `make dev-env` / `make token` run) in `directory`."""
    done = subprocess.run(  # noqa: S603 (this project's own script)
        [sys.executable, str(PROJECT / "scripts" / "dev_access.py"), *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_make_token_is_trusted_only_where_the_development_issuer_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, issuer: Issuer
) -> None:
    token = dev_access(tmp_path, "token", "things:read", "things:write")
    assert stat.S_IMODE((tmp_path / ".dev" / "jwt-signing-key.pem").stat().st_mode) == 0o600
    monkeypatch.chdir(tmp_path)  # where the service reads .dev/jwks.json
    development = load_policy(environment="development", auth_jwt_dev_issuer=True)
    developer = authenticate(development, f"Bearer {token}")
    assert (developer.subject, developer.scopes) == (
        "developer",
        frozenset({"things:read", "things:write"}),
    )
    assert refusal(development, f"Bearer {issuer.token()}").status == 401  # not its issuer
    assert refusal(load_policy(), f"Bearer {token}").status == 401  # not the dev issuer's


def test_make_dev_env_writes_a_development_env_once(tmp_path: Path) -> None:
    dev_access(tmp_path, "env")
    written = (tmp_path / ".env").read_text()
    settings = AccessSettings(_env_file=tmp_path / ".env")
    assert (settings.environment, settings.auth_jwt_dev_issuer) == ("development", True)
    (tmp_path / ".env").write_text(written + "# edited\n")
    dev_access(tmp_path, "env")
    assert (tmp_path / ".env").read_text() == written + "# edited\n"  # kept as it was
