"""Service settings, read from the environment and `.env` (pydantic-settings).

Every field can be set as `{{ cookiecutter.package_name|upper }}_<FIELD>` (upper case),
e.g. `{{ cookiecutter.package_name|upper }}_MONGO_URI`. `.env.example` lists them all.
"""

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pymongo.uri_parser import parse_uri, parse_userinfo, split_hosts, split_options

ENV_PREFIX = "{{ cookiecutter.package_name|upper }}_"
LEASE_TIMEOUTS = 3  # `mongo_timeout_ms` per `Idempotency-Key` lease (see `idempotency_lease_ms`)


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line naming the variable."""


class Settings(BaseSettings):
    """Configuration of one service process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "production"
    """Where the service runs; `development` switches logs to the console renderer."""

    mongo_uri: SecretStr = SecretStr("mongodb://localhost:27017")
    """MongoDB connection string. A secret: it may hold a password, so it is never logged."""

    mongo_database: str = Field("{{ cookiecutter.package_name }}", min_length=1, max_length=63)
    """Database that holds the service's collections."""

    mongo_server_selection_timeout_ms: int = Field(2000, gt=0)
    """How long (ms) a request waits for MongoDB while no server is known to be up
    (database down, unreachable): then 503. Capped by `mongo_timeout_ms`."""

    mongo_timeout_ms: int = Field(5000, gt=0)
    """Upper bound (ms) on the MongoDB calls of one request, driver retries included
    (the driver's `timeoutMS`): a request in flight when the database dies, or one
    the database is too slow for, answers 503 after at most this."""

    mongo_write_concern: Annotated[str, Field(pattern=r"^(majority|[0-9]+)$")] = "majority"
    """Write concern `w`: `majority` or a node count. With `mongo_journal`, an
    acknowledged write survives a server crash (MongoDB manual, "Write Concern")."""

    mongo_journal: bool = True
    """Wait for the journal before acknowledging a write (`j=true`)."""

    readiness_timeout_ms: int = Field(1000, gt=0)
    """How long (ms) `/health/ready` waits for a MongoDB ping before answering 503."""

    ready_requires_migrations: bool = True
    """While a migration is not applied (pending, running, failed or changed since it
    ran), `/health/ready` answers 503 and so do the resource routes (with `Retry-After`:
    the migration gate, `gate.py`). False turns both off: only the ping counts, and
    requests are served whatever the migrations' state, so a write may land in a
    collection that has no validator or unique index yet."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Lowest level that is logged."""

    log_format: Literal["json", "console", "auto"] = "auto"
    """`json`, `console`, or `auto`: console in development, JSON elsewhere."""

    access_log_probes: bool = False
    """Log an access event for `/health/*` and `/metrics` requests too. Off by default:
    orchestrators and scrapers call them every few seconds, which would bury the
    requests of real clients (they are still counted in the metrics)."""

    max_body_bytes: int = Field(1_048_576, gt=0)
    """Largest request body accepted (bytes); larger ones get 413."""

    idempotency_retention_seconds: int = Field(86_400, gt=0)
    """How long (s) a POST's `Idempotency-Key` and its response are kept for replay (TTL).

    A retry after that is a new request. It must outlast the key's lease (three
    `mongo_timeout_ms`), or a record could vanish while its request still runs."""

    cors_origins: Annotated[list[str], NoDecode] = []
    """Origins allowed by CORS, comma-separated; empty (the default) sends no CORS headers."""

    cursor_secret: SecretStr | None = None
    """Key of the tag that signs list cursors (`?cursor=`). Without it the tag still
    catches an edited or corrupt cursor; with it, nobody without the secret can forge
    one. Changing it invalidates the cursors clients hold (they get a 400)."""

    @field_validator("mongo_uri")
    @classmethod
    def _check_mongo_uri(cls, value: SecretStr) -> SecretStr:
        """Reject a connection string the driver would refuse, without any network I/O."""
        uri = value.get_secret_value()
        try:
            check_mongo_uri(uri)
        except Exception as exc:  # pymongo raises InvalidURI, ConfigurationError, ValueError
            reason = " ".join(str(exc).split())
            _, _, password = uri.partition("://")[2].rpartition("@")[0].partition(":")
            if password:
                reason = reason.replace(password, "***")
            raise ValueError(f"not a MongoDB connection string ({reason})") from None
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        """Accept a comma-separated string as well as a list."""
        return comma_separated(value)

    @field_validator("idempotency_retention_seconds")
    @classmethod
    def _outlast_the_lease(cls, value: int, info: ValidationInfo) -> int:
        """Refuse a retention no longer than the lease of an `Idempotency-Key`."""
        timeout_ms = info.data.get("mongo_timeout_ms")
        if timeout_ms is not None and value * 1000 <= LEASE_TIMEOUTS * timeout_ms:
            raise ValueError(f"must be more than {LEASE_TIMEOUTS} x MONGO_TIMEOUT_MS")
        return value

    @property
    def idempotency_lease_ms(self) -> int:
        """Return how long (ms) a POST holds its `Idempotency-Key` before a retry may take over.

        A keyed create's database calls (claim the key, insert the item, maybe read it
        back, store the outcome) share one `mongo_timeout_ms` budget, so three of them
        leave a wide margin. A request slower than that only lets a retry run beside
        it, and both end on the same item (its id is fixed when the key is first claimed).
        """
        return LEASE_TIMEOUTS * self.mongo_timeout_ms

    @property
    def resolved_log_format(self) -> Literal["json", "console"]:
        """Return the log renderer to use once `auto` is resolved."""
        if self.log_format == "auto":
            return "console" if self.environment == "development" else "json"
        return self.log_format

    def mongo_client_options(self) -> dict[str, Any]:
        """Return keyword arguments for the MongoDB client (they override the URI's).

        Both drivers (pymongo sync/async, motor) take the same options.
        """
        return {
            "tz_aware": True,
            "appname": "{{ cookiecutter.project_slug }}",
            "serverSelectionTimeoutMS": self.mongo_server_selection_timeout_ms,
            "timeoutMS": self.mongo_timeout_ms,
            "w": int(self.mongo_write_concern)
            if self.mongo_write_concern.isdigit()
            else self.mongo_write_concern,
            "journal": self.mongo_journal,
        }


def comma_separated(value: Any) -> Any:
    """Return a string as the list of its comma-separated, stripped, non-empty parts.

    Any other value (a list already) is returned as it is, for pydantic to validate.
    """
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def check_mongo_uri(uri: str) -> None:
    """Parse `uri` as `MongoClient` would, without DNS lookups.

    A `mongodb+srv://` URI names a DNS record that is only looked up on connection, so
    only its form is checked: one host without a port, user info, options.

    Raises:
        pymongo.errors.InvalidURI, pymongo.errors.ConfigurationError, ValueError: the
            driver would refuse `uri` (as `MongoClient` does, unknown options only warn).
    """
    srv_scheme = "mongodb+srv://"
    if not uri.startswith(srv_scheme):
        parse_uri(uri, warn=True)
        return
    where, _, options = uri[len(srv_scheme) :].partition("?")
    user_info, _, hosts = where.partition("/")[0].rpartition("@")
    if user_info:
        parse_userinfo(user_info)
    nodes = split_hosts(hosts, default_port=None)
    if len(nodes) != 1 or nodes[0][1] is not None:
        raise ValueError(f"{srv_scheme} URIs must name one host, without a port")
    if options:
        split_options(options, warn=True)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment and `.env`, with `overrides` on top.

    Raises:
        SettingsError: a value is invalid; the message names the environment
            variable and the reason in one line.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        raise SettingsError(
            f"invalid setting {ENV_PREFIX}{field.upper()}: {first['msg']}"
        ) from None
