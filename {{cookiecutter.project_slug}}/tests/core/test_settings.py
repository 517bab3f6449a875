"""Settings: environment variables, validation and secrecy."""

import socket
from pathlib import Path
from typing import NoReturn

import dns.resolver
import pytest

from {{ cookiecutter.package_name }}.core.settings import (
    ENV_PREFIX,
    Settings,
    SettingsError,
    load_settings,
)


def test_defaults_are_production_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")  # no .env
    settings = load_settings()
    assert settings.environment == "production"
    assert settings.cors_origins == []
    assert settings.max_body_bytes == 1_048_576
    assert settings.mongo_client_options()["w"] == "majority"
    assert settings.mongo_client_options()["journal"] is True


def test_values_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}LOG_LEVEL", "DEBUG")
    monkeypatch.setenv(f"{ENV_PREFIX}CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv(f"{ENV_PREFIX}MONGO_WRITE_CONCERN", "1")
    settings = load_settings()
    assert settings.log_level == "DEBUG"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.mongo_client_options()["w"] == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOG_LEVEL", "LOUD"),
        ("MAX_BODY_BYTES", "-1"),
        ("MONGO_WRITE_CONCERN", "all"),
        ("ENVIRONMENT", "staging"),
        ("IDEMPOTENCY_RETENTION_SECONDS", "15"),
    ],
)
def test_bad_value_fails_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}{variable}", value)
    with pytest.raises(SettingsError) as failure:
        load_settings()
    message = str(failure.value)
    assert f"{ENV_PREFIX}{variable}" in message
    assert "\n" not in message


def test_idempotency_lease_covers_three_mongo_timeouts() -> None:
    settings = load_settings(mongo_timeout_ms=2000, idempotency_retention_seconds=7)
    assert settings.idempotency_lease_ms == 6000


def test_mongo_uri_is_secret() -> None:
    settings = load_settings(mongo_uri="mongodb://user:hunter2@db.example/")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


def test_log_format_follows_environment_unless_set() -> None:
    assert load_settings(environment="development").resolved_log_format == "console"
    assert load_settings(environment="production").resolved_log_format == "json"
    assert load_settings(environment="development", log_format="json").resolved_log_format == (
        "json"
    )


def test_env_example_lists_every_setting_and_loads() -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    names = {
        line.split("=", 1)[0]
        for line in example.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert {f"{ENV_PREFIX}{field.upper()}" for field in Settings.model_fields} <= names
    settings = Settings(_env_file=example)
    assert settings.max_body_bytes == 1_048_576


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb://:bad",
        "http://x",
        "mongodb://u:p%@h",
        "mongodb+srv://h.example:27017",
        "mongodb://",
    ],
)
def test_malformed_mongo_uri_fails_with_one_line_naming_it(uri: str) -> None:
    with pytest.raises(SettingsError) as failure:
        load_settings(mongo_uri=uri)
    message = str(failure.value)
    assert f"{ENV_PREFIX}MONGO_URI" in message
    assert "\n" not in message


def test_a_malformed_uri_error_hides_the_password() -> None:
    with pytest.raises(SettingsError) as failure:
        load_settings(mongo_uri="mongodb://svc:hunter2@db.example:notaport/")
    assert "hunter2" not in str(failure.value)


def test_mongo_srv_uri_is_checked_without_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[object] = []

    def refuse(*args: object, **kwargs: object) -> NoReturn:
        lookups.append(args[:2])
        raise OSError("no name lookup in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(dns.resolver, "resolve", refuse)  # pymongo's SRV and TXT lookups
    uri = "mongodb+srv://svc:pw@cluster0.invalid/?authSource=admin"
    assert load_settings(mongo_uri=uri).mongo_uri.get_secret_value() == uri
    assert lookups == []
