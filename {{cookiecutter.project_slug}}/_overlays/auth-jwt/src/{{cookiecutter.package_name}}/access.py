"""Who may call the API: bearer JWTs (RFC 6750) from the organisation's identity provider.

The service validates tokens, it never issues them. A token is accepted when its
signature verifies against a key of the issuer's JWKS (fetched from
`AUTH_JWT_JWKS_URL`, or found by OIDC discovery from the issuer), with an allowed
asymmetric algorithm, and its `iss`, `aud`, `exp`, `nbf` and `iat` hold (with
`AUTH_JWT_LEEWAY_S` of clock skew). Its `scope` (space-separated) or `scp` (list)
claim must hold the scope the route needs: `<plural>:read` for GET/HEAD,
`<plural>:write` for changes (names set by `AUTH_READ_SCOPE` / `AUTH_WRITE_SCOPE`).

The framework layer (`guard`) calls `Policy.authenticate` and `Policy.authorize`;
both only compute. When a key must be fetched, `authenticate` raises `RefreshNeeded`
and the guard runs the blocking `Policy.refresh` where blocking is harmless (a
worker thread under asyncio), then authenticates once more.

Checking a signature and the claims costs more than the rest of a request by id, and a
caller sends the same token until it expires: a verified token's caller is kept (up to
`AUTH_JWT_CACHE_SIZE` tokens, by the token's SHA-256) until its `exp` (plus the
leeway), and only while the key that verified it is still the issuer's current one.
"""

import contextvars
import hashlib
import json
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
import structlog
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .settings import ENV_PREFIX, SettingsError, comma_separated

log = structlog.get_logger(__name__)

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
SCHEME_NAME = "bearerAuth"
HEADER = "Authorization"
# RFC 6750 section 2.1: "Bearer" 1*SP b64token (the scheme is case-insensitive, RFC 9110 11.1).
_CREDENTIALS = re.compile(r"([A-Za-z]+) +([A-Za-z0-9._~+/-]+=*)")
JWKS_MAX_BYTES = 1_048_576


class AccessSettings(BaseSettings):
    """Access settings of the `jwt` mode, read like `Settings` (same prefix, same `.env`)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    auth_jwt_issuer: str = Field(min_length=1)
    """The `iss` every token must carry (the identity provider's issuer URL). Required."""

    auth_jwt_audience: str = Field(min_length=1)
    """The `aud` every token must carry (this API's identifier at the provider). Required."""

    auth_jwt_jwks_url: str = ""
    """Where the issuer publishes its keys; empty: OIDC discovery
    (`<issuer>/.well-known/openid-configuration`, its `jwks_uri`)."""

    auth_jwt_algorithms: Annotated[list[str], NoDecode] = ["RS256", "ES256"]
    """Signature algorithms accepted, comma-separated; asymmetric ones only."""

    auth_jwt_leeway_s: int = Field(30, ge=0, le=300)
    """Clock skew (s) allowed on `exp`, `nbf` and `iat`."""

    auth_jwks_timeout_s: float = Field(3.0, gt=0, le=30)
    """Timeout (s) of each request to the issuer (discovery, JWKS)."""

    auth_jwks_refresh_s: int = Field(60, ge=1)
    """Least time (s) between two fetches of the JWKS: an unknown `kid` refetches the set
    at most this often, so a flood of made-up key ids cannot flood the issuer."""

    auth_jwks_max_age_s: int = Field(3600, ge=1)
    """Keys are fetched again after this long (s), to follow key rotation."""

    auth_max_token_bytes: int = Field(8192, ge=256)
    """Longest token accepted (bytes); longer ones are refused before any parsing."""

    auth_jwt_cache_size: int = Field(1024, ge=0, le=1_000_000)
    """Verified tokens remembered per worker (until their `exp`), so a caller's next
    requests skip the signature check; 0 checks every request in full."""

    auth_read_scope: str = "{plural}:read"
    """Scope GET/HEAD need on a resource; `{plural}` is the resource's URL name."""

    auth_write_scope: str = "{plural}:write"
    """Scope POST/PUT/PATCH/DELETE need on a resource."""

    auth_metrics_scope: str = ""
    """Scope `/metrics` needs; empty (the default) leaves it open to the scraper."""

    auth_realm: str = "{{ cookiecutter.project_slug }}"
    """The realm named in `WWW-Authenticate` challenges."""

    @field_validator("auth_jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: Any) -> Any:
        """Accept a comma-separated string as well as a list."""
        return comma_separated(value)

    @field_validator("auth_jwt_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        """Refuse `none` and shared-secret (HS*) algorithms: a JWKS holds public keys."""
        wrong = [name for name in value if name not in ASYMMETRIC_ALGORITHMS]
        if wrong or not value:
            raise ValueError(
                f"not an asymmetric algorithm: {', '.join(wrong) or '(none given)'}; "
                f"use some of {', '.join(sorted(ASYMMETRIC_ALGORITHMS))}"
            )
        return value

    @field_validator("auth_jwt_jwks_url", "auth_jwt_issuer")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """Refuse a URL the service could not fetch keys from (http or https only)."""
        if value and urllib.parse.urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL")
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
    """Who is calling: the token's subject and the scopes it grants."""

    subject: str
    scopes: frozenset[str]
    issuer: str = ""
    """The token's `iss`: a subject names one caller only within its issuer (RFC 7519 4.1.2)."""

    @property
    def caller(self) -> str:
        """Return who calls, as `Idempotency-Key` records scope keys: `jwt:["<iss>", "<sub>"]`."""
        return "jwt:" + json.dumps([self.issuer, self.subject])


class AccessError(Exception):
    """The request may not proceed: 401 (credentials), 403 (scope) or 503 (no keys)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str]) -> None:
        """Keep the status, the problem's detail and the response headers (the challenge)."""
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


class RefreshNeeded(Exception):
    """The token names a key not held (or the keys are old): fetch them, then retry."""


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


class KeySet:
    """The issuer's public keys by `kid`, fetched over HTTP and kept for a while.

    Thread-safe: one fetch at a time, and none sooner than `refresh_s` after the last
    attempt (successful or not).
    """

    def __init__(self, settings: AccessSettings, clock: Callable[[], float] = time.monotonic):
        """Fetch from `settings`' JWKS URL (or discovery) within its timeouts."""
        self.settings = settings
        self.clock = clock
        self.keys: dict[str, jwt.PyJWK] = {}
        self.fetched_at: float | None = None
        self.tried_at = float("-inf")
        self.fetches = 0
        self._lock = threading.Lock()

    def get(self, kid: str) -> jwt.PyJWK | None:
        """Return the key `kid`, or None when the issuer has no such key.

        Raises:
            RefreshNeeded: the key is not held, or the keys are old, and a fetch is due.
            AccessError: 503, no key was ever fetched and no fetch is due yet.
        """
        key = self.keys.get(kid)
        now = self.clock()
        fresh = (
            self.fetched_at is not None
            and now - self.fetched_at < self.settings.auth_jwks_max_age_s
        )
        if key is not None and fresh:
            return key
        if now - self.tried_at >= self.settings.auth_jwks_refresh_s:
            raise RefreshNeeded
        if key is None and self.fetched_at is None:
            raise AccessError(
                503,
                "The token issuer's keys cannot be fetched; retry later.",
                {"Retry-After": str(self.settings.auth_jwks_refresh_s)},
            )
        return key

    def refresh(self) -> None:
        """Fetch the key set once (unless fetched within `refresh_s`); log a failure."""
        with self._lock:
            if self.clock() - self.tried_at < self.settings.auth_jwks_refresh_s:
                return
            self.tried_at = self.clock()
            self.fetches += 1
            try:
                document = _get_json(self.jwks_url(), self.settings.auth_jwks_timeout_s)
                keys = jwt.PyJWKSet.from_dict(document).keys
            except Exception as exc:
                log.warning("jwks fetch failed", error=type(exc).__name__)
                return
            self.keys = {
                key.key_id: key
                for key in keys
                if key.key_id and getattr(key, "public_key_use", None) in (None, "sig")
            }
            self.fetched_at = self.clock()

    def jwks_url(self) -> str:
        """Return the JWKS URL: the configured one, or the issuer's discovery document's."""
        if self.settings.auth_jwt_jwks_url:
            return self.settings.auth_jwt_jwks_url
        issuer = self.settings.auth_jwt_issuer.rstrip("/")
        discovery = _get_json(
            f"{issuer}/.well-known/openid-configuration", self.settings.auth_jwks_timeout_s
        )
        url = discovery.get("jwks_uri")
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("the discovery document has no http(s) jwks_uri")
        return url


def _get_json(url: str, timeout_s: float) -> dict[str, Any]:
    """Return the JSON object at `url` (http or https, at most `JWKS_MAX_BYTES`)."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        body = response.read(JWKS_MAX_BYTES + 1)
    if len(body) > JWKS_MAX_BYTES:
        raise ValueError("document too large")
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document


class Policy:
    """Bearer-token access: authenticate a request's credentials, authorize a scope."""

    open = False
    """False: the guard protects every resource route (see `guard`)."""
    request_headers = (HEADER,)
    """The request headers that carry credentials (CORS must allow them)."""

    def __init__(
        self,
        settings: AccessSettings,
        keys: KeySet | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Enforce `settings`; keys from `keys` (default: a `KeySet` on the settings).

        `clock` (seconds since the epoch) says when a remembered token has expired.
        """
        self.settings = settings
        self.keys = keys or KeySet(settings)
        self.clock = clock
        # SHA-256 of a verified token -> (its caller, its kid, the key, valid until).
        self._verified: dict[bytes, tuple[Principal, str, jwt.PyJWK, float]] = {}
        self._verified_lock = threading.Lock()
        self.schemes: dict[str, dict[str, Any]] = {
            SCHEME_NAME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
        self.metrics_scope = settings.auth_metrics_scope
        self._realm = settings.auth_realm.replace("\\", "").replace('"', "")

    def scopes_for(self, plural: str) -> tuple[str, str]:
        """Return the (read, write) scopes of the resource whose URL name is `plural`."""
        return (
            self.settings.auth_read_scope.format(plural=plural),
            self.settings.auth_write_scope.format(plural=plural),
        )

    def challenge(self, error: str | None = None, **params: str) -> dict[str, str]:
        """Return the `WWW-Authenticate` header of a refusal (RFC 6750 section 3)."""
        parts = [f'realm="{self._realm}"']
        if error:
            parts.append(f'error="{error}"')
        parts.extend(f'{name}="{value}"' for name, value in params.items())
        return {"WWW-Authenticate": "Bearer " + ", ".join(parts)}

    def refused(self, detail: str, error: str | None = "invalid_token") -> AccessError:
        """Return the 401 for credentials that are missing (`error` None) or not accepted."""
        return AccessError(401, detail, self.challenge(error))

    def authenticate(self, values: Sequence[str], query: str) -> Principal:
        """Return the caller named by the `Authorization` header values `values`.

        Args:
            values: Every `Authorization` header of the request (exactly one is allowed).
            query: The raw query string: a token there is refused (it would be logged).

        Raises:
            AccessError: 401 (no, malformed or invalid token), 503 (no keys).
            RefreshNeeded: the token's key must be fetched first (`refresh`).
        """
        if "access_token" in query and "access_token" in urllib.parse.parse_qs(query):
            raise self.refused(
                "Send the token in the Authorization header, never in the URL.", "invalid_request"
            )
        if not values:
            raise self.refused("This request needs a bearer token.", None)
        if len(values) > 1:
            raise self.refused("Send one Authorization header.", "invalid_request")
        value = values[0].strip()
        if len(value) > self.settings.auth_max_token_bytes + 16:
            raise self.refused("The token is too large.")
        match = _CREDENTIALS.fullmatch(value)
        if match is None or match.group(1).lower() != "bearer":
            raise self.refused(
                "The Authorization header is not 'Bearer <token>'.", "invalid_request"
            )
        return self.verify(match.group(2))

    def verify(self, token: str) -> Principal:
        """Return the caller `token` names, once its signature and claims are checked.

        Raises:
            AccessError: 401 (invalid token), 503 (no keys).
            RefreshNeeded: the token's key must be fetched first.
        """
        digest = hashlib.sha256(token.encode()).digest()
        remembered = self._verified.get(digest)
        if remembered is not None:
            known, known_kid, known_key, until = remembered
            # The same checks of the key as below (a due refresh, a rotated-out key).
            if self.clock() < until and self.keys.get(known_kid) is known_key:
                return known
            with self._verified_lock:
                self._verified.pop(digest, None)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise self.refused("The token is malformed.") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in self.settings.auth_jwt_algorithms:
            raise self.refused("The token's algorithm is not accepted.")
        if not isinstance(kid, str):
            raise self.refused("The token names no key (kid).")
        key = self.keys.get(kid)
        if key is None:
            raise self.refused("The token was signed with an unknown key.")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.settings.auth_jwt_audience,
                issuer=self.settings.auth_jwt_issuer,
                leeway=self.settings.auth_jwt_leeway_s,
                options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise self.refused(f"The token is not valid ({type(exc).__name__}).") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise self.refused("The token's subject is not a string.")
        principal = Principal(subject=subject, scopes=_scopes(claims), issuer=claims["iss"])
        # PyJWT accepts the token until exp + leeway (it checked that exp is an integer).
        until = int(claims["exp"]) + self.settings.auth_jwt_leeway_s
        self._remember(digest, (principal, kid, key, until))
        return principal

    def _remember(self, digest: bytes, entry: tuple[Principal, str, jwt.PyJWK, float]) -> None:
        """Keep a verified token's caller; drop the oldest token when the cache is full."""
        size = self.settings.auth_jwt_cache_size
        if size == 0:
            return
        with self._verified_lock:
            while len(self._verified) >= size:
                self._verified.pop(next(iter(self._verified)))
            self._verified[digest] = entry

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
        """Fetch the issuer's keys (blocking, bounded by `AUTH_JWKS_TIMEOUT_S`)."""
        self.keys.refresh()


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    """Return the scopes of `claims`: `scope` (space-separated, RFC 8693) or `scp` (a list)."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return frozenset(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, list):
        return frozenset(item for item in scp if isinstance(item, str))
    return frozenset()


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
