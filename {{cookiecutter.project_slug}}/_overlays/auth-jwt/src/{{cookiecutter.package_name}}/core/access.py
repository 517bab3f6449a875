"""Who may call the API: bearer JWTs (RFC 6750) from the organisation's identity provider.

The service validates tokens, it never issues them. A token is accepted when its
signature verifies against a key of the issuer's JWKS (fetched from
`AUTH_JWT_JWKS_URL`, or found by OIDC discovery from the issuer), with an allowed
asymmetric algorithm that fits that key, and its `iss`, `aud`, `exp`, `nbf` and `iat`
hold (with `AUTH_JWT_LEEWAY_S` of clock skew). Its `scope` (space-separated) or `scp`
(list) claim must hold the scope the route needs: `<plural>:read` for GET/HEAD,
`<plural>:write` for changes (names set by `AUTH_READ_SCOPE` / `AUTH_WRITE_SCOPE`).
Whatever a token holds, a check that fails is a 401 `invalid_token`, never a 500; keys
come from the configured issuer only (a token's `jku`, `jwk`, `x5u` or `x5c` header is
never followed, RFC 8725 section 3.10).

The framework layer (`guard`) calls `Policy.authenticate` and `Policy.authorize`;
both only compute. When a key must be fetched first, `authenticate` raises
`RefreshNeeded` holding the worker's one fetch in flight; the guard waits for it
(without blocking other requests) and authenticates once more.

Checking a signature and the claims costs more than the rest of a request by id, and a
caller sends the same token until it expires: a verified token's caller is kept (up to
`AUTH_JWT_CACHE_SIZE` tokens, by the token's SHA-256) until its `exp` (plus the
leeway), and only while the key that verified it is still the issuer's current one.

For local development, `AUTH_JWT_DEV_ISSUER=true` trusts the development issuer instead
(`make token`, its keys under `.dev/`); start-up refuses it when `ENVIRONMENT` is
`production`.
"""

import concurrent.futures
import contextlib
import contextvars
import functools
import hashlib
import http.client
import json
import math
import re
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .security import credentials_in_url
from .settings import ENV_PREFIX, SettingsError, comma_separated

log = structlog.get_logger(__name__)

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
# The one algorithm each curve signs with (RFC 7518 section 3.4).
CURVE_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
ASYMMETRIC_ALGORITHMS = RSA_ALGORITHMS | frozenset(CURVE_ALGORITHMS.values()) | {"EdDSA"}
SCHEME_NAME = "bearerAuth"
HEADER = "Authorization"
# RFC 6750 section 2.1: "Bearer" 1*SP b64token (the scheme is case-insensitive, RFC 9110 11.1).
_CREDENTIALS = re.compile(r"([A-Za-z]+) +([A-Za-z0-9._~+/-]+=*)")
JWKS_MAX_BYTES = 1_048_576

# The local development issuer (`make token`): its key pair lives under `.dev/` (git-ignored).
DEV_DIR = Path(".dev")
DEV_JWKS = DEV_DIR / "jwks.json"
DEV_SIGNING_KEY = DEV_DIR / "jwt-signing-key.pem"
DEV_ISSUER = "urn:{{ cookiecutter.project_slug }}:dev-issuer"
DEV_AUDIENCE = "{{ cookiecutter.project_slug }}"


class AccessSettings(BaseSettings):
    """Access settings of the `jwt` mode, read like `Settings` (same prefix, same `.env`)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "production"
    """Where the service runs (the same variable as `Settings.environment`)."""

    auth_jwt_dev_issuer: bool = False
    """Trust the local development issuer (`make token`, keys in `.dev/`) instead of an
    identity provider: tokens then carry its `iss` and `aud`, and the issuer, audience
    and JWKS settings are not used. Refused when `ENVIRONMENT` is `production`."""

    auth_jwt_issuer: str = Field("", validate_default=True)
    """The `iss` every token must carry (the identity provider's issuer URL). Required
    (unless `AUTH_JWT_DEV_ISSUER`)."""

    auth_jwt_audience: str = Field("", validate_default=True)
    """The `aud` every token must carry (this API's identifier at the provider). Required
    (unless `AUTH_JWT_DEV_ISSUER`)."""

    auth_jwt_jwks_url: str = ""
    """Where the issuer publishes its keys; empty: OIDC discovery
    (`<issuer>/.well-known/openid-configuration`, its `jwks_uri`)."""

    auth_jwt_algorithms: Annotated[list[str], NoDecode] = ["RS256", "ES256"]
    """Signature algorithms accepted, comma-separated; asymmetric ones only."""

    auth_jwt_leeway_s: int = Field(30, ge=0, le=300)
    """Clock skew (s) allowed on `exp`, `nbf` and `iat`."""

    auth_jwks_timeout_s: float = Field(3.0, gt=0, le=30)
    """Deadline (s) of one fetch of the keys: connecting, OIDC discovery and every read
    of the JWKS together. A request waiting for keys answers 503 by then at the latest."""

    auth_jwks_retry_s: float = Field(1.0, gt=0, le=60)
    """Pause (s) after a failed fetch before the next one (one fetch per worker at a
    time); requests that need keys meanwhile get 503 with this `Retry-After`."""

    auth_jwks_refresh_s: int = Field(60, ge=1)
    """Least time (s) between two fetches of the JWKS: an unknown `kid` refetches the set
    at most this often, so a flood of made-up key ids cannot flood the issuer."""

    auth_jwks_max_age_s: int = Field(3600, ge=1)
    """Keys are fetched again after this long (s), to follow key rotation; the held keys
    keep serving while that fetch runs (or fails)."""

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

    @field_validator("auth_jwt_dev_issuer")
    @classmethod
    def _never_in_production(cls, value: bool, info: ValidationInfo) -> bool:
        """Refuse the development issuer in production: its keys sit in a local folder."""
        if value and info.data.get("environment") == "production":
            raise ValueError(
                "the development issuer (make token) is never trusted in production; "
                f"set {ENV_PREFIX}ENVIRONMENT=development to use it"
            )
        return value

    @field_validator("auth_jwt_issuer", "auth_jwt_audience")
    @classmethod
    def _required(cls, value: str, info: ValidationInfo) -> str:
        """Require the issuer and the audience, unless the development issuer is trusted."""
        if not value and not info.data.get("auth_jwt_dev_issuer"):
            raise PydanticCustomError("missing", "Field required")
        return value

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

    @property
    def issuer(self) -> str:
        """Return the `iss` tokens must carry (the development issuer's, if trusted)."""
        return DEV_ISSUER if self.auth_jwt_dev_issuer else self.auth_jwt_issuer

    @property
    def audience(self) -> str:
        """Return the `aud` tokens must carry (the development issuer's, if trusted)."""
        return DEV_AUDIENCE if self.auth_jwt_dev_issuer else self.auth_jwt_audience


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
    """The token names a key not held yet: wait for `fetch`, then authenticate again.

    `fetch` is the worker's one key fetch in flight; it is done within
    `AUTH_JWKS_TIMEOUT_S` of its start, whatever the issuer does.
    """

    def __init__(self, fetch: "concurrent.futures.Future[None]") -> None:
        """Keep the fetch to wait for."""
        super().__init__("the issuer's keys are being fetched")
        self.fetch = fetch


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


@dataclass(frozen=True, eq=False)
class IssuerKey:
    """One public key of the issuer, and the algorithms that may verify with it."""

    public_key: Any
    """The key (a `cryptography` public key object)."""
    algorithms: frozenset[str]
    """Its own `alg` if the JWK names one, else every algorithm of its type and curve
    (RFC 7518 section 3): a token whose `alg` is not among them is refused."""


def issuer_key(jwk: dict[str, Any]) -> IssuerKey | None:
    """Return the signing key a JWK describes, or None for a key that cannot verify tokens.

    Keys marked for another `use` than `sig` (RFC 7517 section 4.2), keys PyJWT cannot
    read, and secret or private keys are left out.
    """
    if jwk.get("use", "sig") != "sig":
        return None
    try:
        public_key = jwt.PyJWK(jwk).key
    except (jwt.PyJWTError, TypeError, ValueError):  # e.g. an `alg` that is not a string
        return None
    if isinstance(public_key, rsa.RSAPublicKey):
        fitting = set(RSA_ALGORITHMS)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        fitting = {CURVE_ALGORITHMS.get(public_key.curve.name, "")}
    elif isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        fitting = {"EdDSA"}
    else:
        return None
    if "alg" in jwk:
        fitting &= {jwk["alg"]}
    return IssuerKey(public_key, frozenset(fitting & ASYMMETRIC_ALGORITHMS))


class Deadline:
    """The time limit of one key fetch, over every connection it opens.

    urllib's `timeout` bounds each blocking socket call, not a request: a server that
    sends one byte a second keeps a read going for ever (no HTTP library here offers
    a total deadline). So the fetch records each connection it opens, and `expire`
    shuts them down, which ends any read blocked on them at once.
    """

    def __init__(self, seconds: float) -> None:
        """Start the clock: the fetch must be over `seconds` from now."""
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        """Return the seconds left.

        Raises:
            TimeoutError: none are left.
        """
        left = self.at - time.monotonic()
        if left <= 0 or self.expired:
            raise TimeoutError("the key fetch ran out of time")
        return left

    def track(self, sock: socket.socket | None) -> None:
        """Record a connected socket, to be shut down when the deadline passes."""
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def expire(self) -> None:
        """Mark the deadline passed and shut down every connection of the fetch."""
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def get_json(self, url: str) -> dict[str, Any]:
        """Return the JSON object at `url` (http or https, at most `JWKS_MAX_BYTES`).

        Proxies (`HTTPS_PROXY`...) and redirects are followed as urllib does.

        Raises:
            OSError, ValueError: the document cannot be had in time, or is not a JSON
                object (`TimeoutError` is an `OSError`).
        """
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("not an http(s) URL")
        opener = urllib.request.build_opener(_HTTPHandler(self), _HTTPSHandler(self))
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        with opener.open(request, timeout=self.remaining()) as response:
            body = response.read(JWKS_MAX_BYTES + 1)
        if len(body) > JWKS_MAX_BYTES:
            raise ValueError("document too large")
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        return document


def _shut(sock: socket.socket) -> None:
    """Shut a socket down both ways (a read blocked on it returns); ignore errors."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _HTTPConnection(http.client.HTTPConnection):
    """An HTTP connection whose socket its fetch's `Deadline` can shut down."""

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        """Connect (within the socket timeout), then hand the socket to the deadline."""
        super().connect()
        self.deadline.track(self.sock)


class _HTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose socket its fetch's `Deadline` can shut down."""

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        """Connect and shake hands (within the socket timeout), then hand the socket over."""
        super().connect()
        self.deadline.track(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    """urllib's http handler, opening connections a `Deadline` tracks."""

    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_HTTPConnection, deadline=self.deadline)
        return self.do_open(connection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    """urllib's https handler (default certificate checks), tracked by a `Deadline`."""

    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline
        self.context = ssl.create_default_context()

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_HTTPSConnection, deadline=self.deadline)
        return self.do_open(connection, req, context=self.context)


class KeySet:
    """The issuer's public keys by `kid`, fetched over HTTP and kept for a while.

    Thread-safe, and one fetch at a time per worker (single flight): requests that
    need keys while a fetch runs wait for that fetch. Each fetch has one deadline
    (`AUTH_JWKS_TIMEOUT_S`, discovery included) and is over by then, whatever the
    issuer does. When is a fetch due:
    - no key is held for a token's `kid`: at once the first time; after a success,
      at most once per `AUTH_JWKS_REFRESH_S`; after a failure, after `AUTH_JWKS_RETRY_S`;
    - the keys are older than `AUTH_JWKS_MAX_AGE_S`: in the background, the held
      keys still serve meanwhile (and while the issuer is down).
    """

    def __init__(self, settings: AccessSettings, clock: Callable[[], float] = time.monotonic):
        """Fetch from `settings`' JWKS URL (or discovery, or the development issuer).

        `clock` (seconds, any origin) says when a fetch is due; the deadline of a fetch
        runs on the real monotonic clock.
        """
        self.settings = settings
        self.clock = clock
        self.keys: dict[str, IssuerKey] = {}
        self.fetched_at: float | None = None
        """When the last successful fetch ended (`clock`), None before the first."""
        self.failed_at: float | None = None
        """When the last fetch failed, None if the last one succeeded."""
        self.fetches = 0
        self._fetch: concurrent.futures.Future[None] | None = None
        self._lock = threading.Lock()

    def get(self, kid: str, *, may_fetch: bool = True) -> IssuerKey | None:
        """Return the key `kid`, or None when the issuer has no such key.

        Args:
            kid: The token's key id.
            may_fetch: False once the caller waited for a fetch: then never
                `RefreshNeeded`, only what is held.

        Raises:
            RefreshNeeded: the key is not held and a fetch runs or is due: wait for it.
            AccessError: 503, no key was ever fetched and none can be fetched yet.
        """
        with self._lock:
            key = self.keys.get(kid)
            now = self.clock()
            if key is not None:
                fetched_at = now if self.fetched_at is None else self.fetched_at
                old = now - fetched_at >= self.settings.auth_jwks_max_age_s
                if old and self._fetch is None and self._may_retry(now):
                    self._start()  # in the background: the held key serves meanwhile
                return key
            if may_fetch and (self._fetch is not None or self._unknown_kid_due(now)):
                raise RefreshNeeded(self._fetch or self._start())
            never_fetched = self.fetched_at is None
        if never_fetched:
            raise AccessError(
                503,
                "The token issuer's keys cannot be fetched; retry later.",
                {"Retry-After": str(math.ceil(self.settings.auth_jwks_retry_s))},
            )
        return None

    def _may_retry(self, now: float) -> bool:
        """Return False within `AUTH_JWKS_RETRY_S` of a failed fetch."""
        return self.failed_at is None or now - self.failed_at >= self.settings.auth_jwks_retry_s

    def _unknown_kid_due(self, now: float) -> bool:
        """Return whether a `kid` not held may start a fetch now."""
        if self.failed_at is not None:
            return self._may_retry(now)
        return self.fetched_at is None or now - self.fetched_at >= self.settings.auth_jwks_refresh_s

    def fetch(self) -> "concurrent.futures.Future[None]":
        """Return the fetch in flight, starting one if none is (whether due or not)."""
        with self._lock:
            return self._fetch or self._start()

    def _start(self) -> "concurrent.futures.Future[None]":
        """Start a fetch in a thread of its own, and its deadline (hold `_lock`)."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()  # so that nobody can cancel it
        deadline = Deadline(self.settings.auth_jwks_timeout_s)
        watchdog = threading.Timer(
            self.settings.auth_jwks_timeout_s, self._expire, (future, deadline)
        )
        watchdog.daemon = True
        fetcher = threading.Thread(
            target=self._run, args=(future, deadline, watchdog), name="jwks-fetch", daemon=True
        )
        self._fetch = future
        self.fetches += 1
        watchdog.start()
        fetcher.start()
        return future

    def _run(
        self,
        future: "concurrent.futures.Future[None]",
        deadline: Deadline,
        watchdog: threading.Timer,
    ) -> None:
        """Fetch the keys and keep them; record a failure. Never raises."""
        try:
            document = self._document(deadline)
            found = document.get("keys")
            if not isinstance(found, list):
                raise ValueError("the JWKS has no list of keys")
            keys = {
                jwk["kid"]: key
                for jwk in found
                if isinstance(jwk, dict)
                and isinstance(jwk.get("kid"), str)
                and (key := issuer_key(jwk)) is not None
            }
        except Exception as exc:  # whatever went wrong, the held keys stay
            self._finish(future, None, type(exc).__name__)
        else:
            self._finish(future, keys, None)
        finally:
            watchdog.cancel()

    def _expire(self, future: "concurrent.futures.Future[None]", deadline: Deadline) -> None:
        """At the deadline: cut the fetch's connections and count the fetch as failed."""
        deadline.expire()
        self._finish(future, None, "TimeoutError")

    def _finish(
        self,
        future: "concurrent.futures.Future[None]",
        keys: dict[str, IssuerKey] | None,
        error: str | None,
    ) -> None:
        """Record a fetch's outcome once (the fetch or its deadline, whichever comes first)."""
        with self._lock:
            if future.done():
                return
            if keys is not None:
                self.keys = keys
                self.fetched_at = self.clock()
                self.failed_at = None
            else:
                self.failed_at = self.clock()
            self._fetch = None
            future.set_result(None)
        if error is not None:
            log.warning("jwks fetch failed", error=error)

    def _document(self, deadline: Deadline) -> dict[str, Any]:
        """Return the JWKS document: the development issuer's file, or the issuer's."""
        if self.settings.auth_jwt_dev_issuer:
            document = json.loads(DEV_JWKS.read_bytes())
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            return document
        return deadline.get_json(self.jwks_url(deadline))

    def jwks_url(self, deadline: Deadline) -> str:
        """Return the JWKS URL: the configured one, or the issuer's discovery document's."""
        if self.settings.auth_jwt_jwks_url:
            return self.settings.auth_jwt_jwks_url
        issuer = self.settings.auth_jwt_issuer.rstrip("/")
        discovery = deadline.get_json(f"{issuer}/.well-known/openid-configuration")
        url = discovery.get("jwks_uri")
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("the discovery document has no http(s) jwks_uri")
        return url


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
        self._verified: dict[bytes, tuple[Principal, str, IssuerKey, float]] = {}
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

    def authenticate(
        self, values: Sequence[str], query: str, *, may_fetch: bool = True
    ) -> Principal:
        """Return the caller named by the `Authorization` header values `values`.

        Args:
            values: Every `Authorization` header of the request (exactly one is allowed).
            query: The raw query string: a credential there (`access_token`, `api_key`,
                `apikey`) is refused, before anything else is looked at (it would be logged).
            may_fetch: False when authenticating again after waiting for `RefreshNeeded`.

        Raises:
            AccessError: 401 (no, malformed or invalid token), 503 (no keys).
            RefreshNeeded: the token's key must be fetched first (wait for `fetch`).
        """
        if credentials_in_url(query):
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
        return self.verify(match.group(2), may_fetch=may_fetch)

    def verify(self, token: str, *, may_fetch: bool = True) -> Principal:
        """Return the caller `token` names, once its signature and claims are checked.

        Raises:
            AccessError: 401 (invalid token, whatever is wrong with it), 503 (no keys).
            RefreshNeeded: the token's key must be fetched first.
        """
        digest = hashlib.sha256(token.encode()).digest()
        remembered = self._verified.get(digest)
        if remembered is not None:
            known, known_kid, known_key, until = remembered
            # The same checks of the key as below (a due refresh, a rotated-out key).
            if self.clock() < until and self.keys.get(known_kid, may_fetch=may_fetch) is known_key:
                return known
            with self._verified_lock:
                self._verified.pop(digest, None)
        header = self._header(token)
        algorithm, kid = header.get("alg"), header.get("kid")
        if not isinstance(algorithm, str) or algorithm not in self.settings.auth_jwt_algorithms:
            raise self.refused("The token's algorithm is not accepted.")
        if not isinstance(kid, str):
            raise self.refused("The token names no key (kid).")
        key = self.keys.get(kid, may_fetch=may_fetch)
        if key is None:
            raise self.refused("The token was signed with an unknown key.")
        if algorithm not in key.algorithms:
            # E.g. ES256 naming an RSA key: PyJWT would fail to load the key (a TypeError).
            raise self.refused("The token's algorithm does not fit its key.")
        claims = self._decode(token, key, algorithm)
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise self.refused("The token's subject is not a string.")
        principal = Principal(subject=subject, scopes=_scopes(claims), issuer=claims["iss"])
        # PyJWT accepts the token until exp + leeway (it checked that exp is an integer).
        until = int(claims["exp"]) + self.settings.auth_jwt_leeway_s
        self._remember(digest, (principal, kid, key, until))
        return principal

    def _header(self, token: str) -> dict[str, Any]:
        """Return the token's JOSE header, unverified (PyJWT checks `kid` and `crit`).

        Raises:
            AccessError: 401, the header cannot be read.
        """
        try:
            return jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise self.refused("The token is malformed.") from None
        except Exception as exc:  # nothing a caller sends may become a 500
            log.warning("token header check failed", error=type(exc).__name__)
            raise self.refused("The token is malformed.") from None

    def _decode(self, token: str, key: IssuerKey, algorithm: str) -> dict[str, Any]:
        """Return the token's claims once its signature, `iss`, `aud` and times are checked.

        Raises:
            AccessError: 401 naming what failed (PyJWT's error class).
        """
        try:
            return jwt.decode(
                token,
                key.public_key,
                algorithms=[algorithm],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.auth_jwt_leeway_s,
                options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise self.refused(f"The token is not valid ({type(exc).__name__}).") from None
        except Exception as exc:  # nothing a caller sends may become a 500
            log.warning("token check failed", error=type(exc).__name__)
            raise self.refused("The token is not valid.") from None

    def _remember(self, digest: bytes, entry: tuple[Principal, str, IssuerKey, float]) -> None:
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
        SettingsError: a value is missing or invalid; the message (one line) names the
            variable.
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
