"""What the shared tests need of an HTTP client: the same calls in both frameworks.

Each framework's `app_fixtures.http` fixture gives one (FastAPI: Starlette's
`TestClient`, with the lifespan running; Flask: its test client, wrapped), so tests of
the HTTP contract are written once and run against either app.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class Reply(Protocol):
    """A response: status, headers (case-insensitive), body."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    @property
    def content(self) -> bytes: ...

    def json(self) -> Any: ...


Headers = Mapping[str, str] | Sequence[tuple[str, str]]
"""Request headers: a mapping, or (name, value) pairs when a name comes twice."""


class Http(Protocol):
    """A client of the app under test; `params` is the query, `json` a body to send as JSON."""

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Headers | None = None,
    ) -> Reply: ...

    def post(
        self,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Headers | None = None,
    ) -> Reply: ...

    def put(
        self,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Headers | None = None,
    ) -> Reply: ...

    def patch(
        self,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Headers | None = None,
    ) -> Reply: ...

    def delete(self, url: str, *, headers: Headers | None = None) -> Reply: ...
