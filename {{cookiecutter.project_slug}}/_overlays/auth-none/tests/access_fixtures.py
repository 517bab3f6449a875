"""Access fixtures of the `none` mode: every route is open, callers send nothing."""

from collections.abc import Callable

import pytest


@pytest.fixture
def credentials_for() -> Callable[..., dict[str, str]]:
    """Return `make(*scopes) -> headers`: no headers, nothing is checked."""

    def make(*scopes: str) -> dict[str, str]:
        return {}

    return make


@pytest.fixture
def credentials() -> dict[str, str]:
    """Return the headers the API tests' client sends: none."""
    return {}


@pytest.fixture
def another_caller() -> None:
    """Return no second caller: with every route open, every request is the same caller."""
    return None
