"""Access fixtures of the `jwt` mode: a test issuer, its settings, a caller's headers."""

from collections.abc import Callable, Iterator

import pytest

from {{ cookiecutter.package_name }}.guard import resource_scopes
from {{ cookiecutter.package_name }}.registry import RESOURCES
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX
from tests.issuer import AUDIENCE, Issuer


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
    from {{ cookiecutter.package_name }}.access import load_policy

    policy = load_policy()
    return [scope for resource in RESOURCES for scope in resource_scopes(policy, resource)]


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
