"""Who may call the API: anyone (the `none` access mode, chosen when the project was made).

The open policy: no credentials are read, no scope is checked, and the OpenAPI
document declares no security. Put the service behind something that authenticates
its callers (a gateway, a mesh), or make the project again with another `auth` answer.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import concurrent.futures


@dataclass(frozen=True)
class Principal:
    """Who is calling (never built in this mode: every route is open)."""

    subject: str
    scopes: frozenset[str]

    @property
    def caller(self) -> str:
        """Return who calls, as `Idempotency-Key` records scope keys (never used here)."""
        return self.subject


class AccessError(Exception):
    """Never raised in this mode."""

    status = 401
    detail = ""
    headers: dict[str, str] = {}  # noqa: RUF012 (never changed)


class RefreshNeeded(Exception):
    """Never raised in this mode."""

    def __init__(self, fetch: "concurrent.futures.Future[None]") -> None:
        """Keep the fetch to wait for (the shape the guard expects in every mode)."""
        super().__init__("never raised")
        self.fetch = fetch


def current_principal() -> Principal | None:
    """Return None: the caller is never known in this mode."""
    return None


def bind_principal(principal: Principal | None) -> None:
    """Do nothing: there is no caller to bind."""


class Policy:
    """The open policy: every request may proceed."""

    open = True
    """True: the guard adds no check to any route."""
    request_headers: tuple[str, ...] = ()
    schemes: dict[str, dict[str, Any]] = {}  # noqa: RUF012 (never changed)
    metrics_scope = ""

    def scopes_for(self, plural: str) -> tuple[str, str]:
        """Return no scopes: nothing is checked."""
        return ("", "")

    def authenticate(
        self, values: Sequence[str], query: str, *, may_fetch: bool = True
    ) -> Principal:
        """Never called: the guard checks nothing on an open policy."""
        raise NotImplementedError

    def authorize(self, principal: Principal, scope: str) -> None:
        """Never called: the guard checks nothing on an open policy."""


def load_policy(**overrides: Any) -> Policy:
    """Return the open policy (there are no access settings in this mode)."""
    return Policy()
