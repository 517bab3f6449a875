"""Access fixtures of the `jwt` mode: a test issuer, its settings, a caller's headers."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.core.guard import resource_scopes
from {{ cookiecutter.package_name }}.core.settings import ENV_PREFIX

from tests.issuer import AUDIENCE, Issuer, b64
from tests.shapes import SERVED

# Header values of the wrong kind: JSON's every type, huge and odd numbers, NaN.
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**400, -(10**400), float("nan"), float("inf"), -0.0, 1e308]),
    st.text(max_size=12),
    st.lists(st.text(max_size=6), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@pytest.fixture(scope="session")
def issuer() -> Iterator[Issuer]:
    """Serve a test issuer for the session."""
    server = Issuer()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def access_environment(issuer: Issuer) -> Iterator[None]:
    """Point the service's access settings at the test issuer (as an operator would)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(f"{ENV_PREFIX}AUTH_JWT_ISSUER", issuer.url)
        patch.setenv(f"{ENV_PREFIX}AUTH_JWT_AUDIENCE", AUDIENCE)
        patch.setenv(f"{ENV_PREFIX}AUTH_JWT_JWKS_URL", issuer.jwks_url)
        yield


@pytest.fixture
def credentials_for(issuer: Issuer) -> Callable[..., dict[str, str]]:
    """Return `make(*scopes) -> headers` of a caller holding exactly `scopes`."""

    def make(*scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issuer.token(scope=' '.join(scopes))}"}

    return make


@pytest.fixture
def all_scopes() -> list[str]:
    """Return every scope of every resource (the policy's default names)."""
    from {{ cookiecutter.package_name }}.core.access import load_policy

    policy = load_policy()
    return [scope for resource in SERVED for scope in resource_scopes(policy, resource)]


@pytest.fixture
def forged_credentials(issuer: Issuer, all_scopes: list[str]) -> st.SearchStrategy[dict[str, str]]:
    """Return a strategy of `Authorization` headers with tokens the issuer never signed.

    JOSE headers of every shape (`alg`, `kid`, `typ`, `crit`, `b64`, `jku`, `jwk`,
    `x5u`, `x5c`: fitting values, wrong ones, or none) over valid claims granting every
    scope, with a junk or empty signature, an intruder's (RSA or EC), or the issuer's
    signature of another token; and the issuer's named forgeries (`Issuer.forgeries`).
    """
    intruder_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    intruders: dict[str, Any] = {
        "RS256": intruder_rsa,
        "ES256": ec.generate_private_key(ec.SECP256R1()),
    }
    intruder_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(intruder_rsa.public_key()))
    scope = " ".join(all_scopes)
    headers = st.fixed_dictionaries(
        {},
        optional={
            "alg": st.sampled_from(["RS256", "ES256", "PS256", "HS256", "none", ""]) | ODD_VALUES,
            "kid": st.sampled_from(["rsa-1", "ec-1", "made-up", ""]) | ODD_VALUES,
            "typ": st.sampled_from(["JWT", "at+jwt"]) | ODD_VALUES,
            "crit": st.sampled_from([["b64"], ["exp"], []]) | ODD_VALUES,
            "b64": ODD_VALUES,
            "jku": st.just("http://127.0.0.1:9/jwks.json") | ODD_VALUES,
            "jwk": st.just(intruder_jwk) | ODD_VALUES,
            "x5u": st.just("http://127.0.0.1:9/cert.pem") | ODD_VALUES,
            "x5c": st.lists(st.text(max_size=8), max_size=2) | ODD_VALUES,
        },
    )

    @st.composite
    def forged(draw: Callable[[st.SearchStrategy[Any]], Any]) -> str:
        header = b64(json.dumps(draw(headers)).encode())
        payload = b64(json.dumps(issuer.claims(scope=scope)).encode())
        signing_input = f"{header}.{payload}".encode()
        kind = draw(st.sampled_from(["junk", "RS256", "ES256", "another token's"]))
        if kind == "junk":
            signature = draw(st.binary(max_size=600))
        elif kind == "another token's":
            signature = jwt.utils.base64url_decode(issuer.token(scope=scope).split(".")[2])
        else:
            signature = jwt.get_algorithm_by_name(kind).sign(signing_input, intruders[kind])
        return f"{header}.{payload}.{b64(signature)}"

    named = st.sampled_from(sorted(issuer.forgeries(scope).values()))
    return (named | forged()).map(lambda token: {"Authorization": f"Bearer {token}"})


@pytest.fixture
def credentials(
    credentials_for: Callable[..., dict[str, str]], all_scopes: list[str]
) -> dict[str, str]:
    """Return the headers of a caller allowed everything (the API tests' client sends them)."""
    return credentials_for(*all_scopes)


@pytest.fixture
def another_caller(issuer: Issuer, all_scopes: list[str]) -> dict[str, str]:
    """Return the headers of a second caller allowed everything (another subject)."""
    token = issuer.token(scope=" ".join(all_scopes), sub="another-user")
    return {"Authorization": f"Bearer {token}"}
