"""Access fixtures of the `none` mode: every route is open, callers send nothing."""

from collections.abc import Callable

import pytest
from hypothesis import strategies as st


@pytest.fixture
def credentials_for() -> Callable[..., dict[str, str]]:
    """Return `make(*scopes) -> headers`: no headers, nothing is checked."""

    def make(*scopes: str) -> dict[str, str]:
        return {}

    return make


@pytest.fixture
def forged_credentials() -> st.SearchStrategy[dict[str, str]]:
    """Return a strategy of made-up credential headers: nothing reads them in this mode."""
    made_up = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=100)
    return made_up.map(lambda value: {"Authorization": f"Bearer {value}"})


@pytest.fixture
def credentials() -> dict[str, str]:
    """Return the headers the API tests' client sends: none."""
    return {}


@pytest.fixture
def another_caller() -> None:
    """Return no second caller: with every route open, every request is the same caller."""
    return None
