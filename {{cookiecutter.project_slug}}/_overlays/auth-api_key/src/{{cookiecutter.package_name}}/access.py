"""Who may call the API: API keys for service-to-service calls, sent in `X-API-Key`.

Keys come from the setting `AUTH_API_KEYS`, a JSON list of `{"id", "key", "scopes"}`.
A key is a secret (`SecretStr`: never logged, hidden in `repr`); its `id` names the
caller in logs. A presented key is compared with every configured key in constant
time (`hmac.compare_digest`, no early exit), so the answer's timing does not tell how
much of a key matched. Scopes as for tokens: `<plural>:read` for GET/HEAD,
`<plural>:write` for changes (names set by `AUTH_READ_SCOPE` / `AUTH_WRITE_SCOPE`).
"""

import contextvars
import hmac
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .settings import ENV_PREFIX, SettingsError

SCHEME_NAME = "apiKeyAuth"
HEADER = "X-API-Key"
MIN_KEY_LENGTH = 32


class ApiKey(BaseModel):
    """One configured key: who holds it (`id`), the secret, and what it may do."""

    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    """Names the caller in logs (the key itself never is)."""
    key: SecretStr = Field(min_length=MIN_KEY_LENGTH, max_length=256)
    """The secret the caller sends, at least 32 characters (e.g. `openssl rand -hex 32`)."""
    scopes: list[str] = []
    """Scopes granted to this key, e.g. `["items:read"]`."""


class AccessSettings(BaseSettings):
    """Access settings of the `api_key` mode, read like `Settings` (same prefix, same `.env`)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    auth_api_keys: list[ApiKey] = Field(min_length=1)
    """The accepted keys, as JSON: `[{"id": "billing", "key": "...", "scopes": [...]}]`. Required."""

    auth_read_scope: str = "{plural}:read"
    """Scope GET/HEAD need on a resource; `{plural}` is the resource's URL name."""

    auth_write_scope: str = "{plural}:write"
    """Scope POST/PUT/PATCH/DELETE need on a resource."""

    auth_metrics_scope: str = ""
    """Scope `/metrics` needs; empty (the default) leaves it open to the scraper."""

    auth_realm: str = "{{ cookiecutter.project_slug }}"
    """The realm named in `WWW-Authenticate` challenges."""

    @field_validator("auth_api_keys")
    @classmethod
    def _distinct(cls, value: list[ApiKey]) -> list[ApiKey]:
        """Refuse two keys with the same id or the same secret."""
        if len({key.id for key in value}) != len(value):
            raise ValueError("two keys share an id")
        if len({key.key.get_secret_value() for key in value}) != len(value):
            raise ValueError("two keys share a secret")
        return value

    @field_validator("auth_read_scope", "auth_write_scope")
    @classmethod
    def _scope_template(cls, value: str) -> str:
        """Refuse a scope template with another placeholder than `{plural}`, or blanks."""
        try:
            scope = value.format(plural="x")
        except (KeyError, IndexError, ValueError):
            raise ValueError("may only contain the placeholder {plural}") from None
        if not scope or any(char.isspace() for char in scope):
            raise ValueError("must be one non-empty word") from None
        return value


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id and the scopes it grants."""

    subject: str
    scopes: frozenset[str]

    @property
    def caller(self) -> str:
        """Return who calls, as `Idempotency-Key` records scope keys: `api_key:<key id>`."""
        return f"api_key:{self.subject}"


class AccessError(Exception):
    """The request may not proceed: 401 (credentials) or 403 (scope)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str]) -> None:
        """Keep the status, the problem's detail and the response headers (the challenge)."""
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


class RefreshNeeded(Exception):
    """Never raised in this mode: the keys are in the settings."""


_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "principal", default=None
)


def current_principal() -> Principal | None:
    """Return the caller of the request being served, or None on an open route."""
    return _principal.get()


def bind_principal(principal: Principal | None) -> None:
    """Make `principal` the request's caller, for handlers and the request's log lines."""
    _principal.set(principal)
    if principal is not None:
        structlog.contextvars.bind_contextvars(subject=principal.subject)


class Policy:
    """API-key access: authenticate a request's key, authorize a scope."""

    open = False
    """False: the guard protects every resource route (see `guard`)."""
    request_headers = (HEADER,)
    """The request headers that carry credentials (CORS must allow them)."""

    def __init__(self, settings: AccessSettings) -> None:
        """Enforce `settings`."""
        self.settings = settings
        self.schemes: dict[str, dict[str, Any]] = {
            SCHEME_NAME: {"type": "apiKey", "in": "header", "name": HEADER}
        }
        self.metrics_scope = settings.auth_metrics_scope
        self._realm = settings.auth_realm.replace("\\", "").replace('"', "")
        self._keys = [
            (key.key.get_secret_value().encode(), Principal(key.id, frozenset(key.scopes)))
            for key in settings.auth_api_keys
        ]

    def scopes_for(self, plural: str) -> tuple[str, str]:
        """Return the (read, write) scopes of the resource whose URL name is `plural`."""
        return (
            self.settings.auth_read_scope.format(plural=plural),
            self.settings.auth_write_scope.format(plural=plural),
        )

    def challenge(self, error: str | None = None, **params: str) -> dict[str, str]:
        """Return the `WWW-Authenticate` header of a refusal (an `ApiKey` challenge)."""
        parts = [f'realm="{self._realm}"']
        if error:
            parts.append(f'error="{error}"')
        parts.extend(f'{name}="{value}"' for name, value in params.items())
        return {"WWW-Authenticate": "ApiKey " + ", ".join(parts)}

    def refused(self, detail: str, error: str | None = "invalid_key") -> AccessError:
        """Return the 401 for a key that is missing (`error` None) or not accepted."""
        return AccessError(401, detail, self.challenge(error))

    def authenticate(self, values: Sequence[str], query: str) -> Principal:
        """Return the caller whose key is the `X-API-Key` header value in `values`.

        Args:
            values: Every `X-API-Key` header of the request (exactly one is allowed).
            query: The raw query string: a key there is refused (it would be logged).

        Raises:
            AccessError: 401 (no key, several, or a key not configured).
        """
        if "api_key" in query and {"api_key", "apikey"} & set(urllib.parse.parse_qs(query)):
            raise self.refused(
                f"Send the key in the {HEADER} header, never in the URL.", "invalid_request"
            )
        if not values:
            raise self.refused(f"This request needs an API key in the {HEADER} header.", None)
        if len(values) > 1:
            raise self.refused(f"Send one {HEADER} header.", "invalid_request")
        presented = values[0].strip().encode()
        found: Principal | None = None
        for secret, principal in self._keys:  # every key, no early exit
            if hmac.compare_digest(presented, secret):
                found = principal
        if found is None:
            raise self.refused("The API key is not valid.")
        return found

    def authorize(self, principal: Principal, scope: str) -> None:
        """Check that `principal` holds `scope`.

        Raises:
            AccessError: 403 with `error="insufficient_scope"` naming the scope.
        """
        if scope not in principal.scopes:
            raise AccessError(
                403,
                f"This request needs the scope '{scope}'.",
                self.challenge("insufficient_scope", scope=scope),
            )

    def refresh(self) -> None:
        """Do nothing: the keys are in the settings."""


def load_policy(**overrides: Any) -> Policy:
    """Read the access settings (environment, `.env`, `overrides`) and return the policy.

    Raises:
        SettingsError: a value is missing or invalid; the message names the variable.
    """
    try:
        settings = AccessSettings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        raise SettingsError(
            f"invalid setting {ENV_PREFIX}{field.upper()}: {first['msg']}"
        ) from None
    return Policy(settings)
