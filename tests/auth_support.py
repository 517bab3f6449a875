"""Credentials for served bakes that have an access mode: a test issuer or a key.

A jwt bake's issuer runs in the bake's own venv (`python -m tests.issuer`, its generated
test helper: keys made at start, JWKS over loopback HTTP), so the template's venv
needs no JOSE library. Its key server can be told to go down or to drip.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import ENV_PREFIX

STOP_GRACE_S = 10


@dataclass
class IssuerProcess:
    """A jwt bake's test issuer (`python -m tests.issuer`), running in a process of its own."""

    proc: subprocess.Popen[str]
    env: dict[str, str]
    """The service's access settings pointing at this issuer."""
    token: str
    """A token with the scopes asked for, valid one hour."""
    forged: dict[str, str]
    """Tokens the service must refuse (401 `invalid_token`), by name (`Issuer.forgeries`)."""

    def set(self, state: str) -> None:
        """Make the key server `up`, `down` or `drip` (a byte a second); wait until it is."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{state}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == state


@contextlib.contextmanager
def issuer_process(
    project: Path, scopes: list[str], *, prefix: str = ENV_PREFIX, python: Path | None = None
) -> Iterator[IssuerProcess]:
    """Run the test issuer of jwt bake `project` (in `python`, default its venv's)."""
    proc = subprocess.Popen(
        [str(python or project / ".venv" / "bin" / "python"), "-m", "tests.issuer", *scopes],
        cwd=project,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        issuer = json.loads(proc.stdout.readline())
        env = {
            f"{prefix}AUTH_JWT_ISSUER": issuer["issuer"],
            f"{prefix}AUTH_JWT_AUDIENCE": issuer["audience"],
            f"{prefix}AUTH_JWT_JWKS_URL": issuer["jwks_url"],
        }
        yield IssuerProcess(proc, env, issuer["token"], issuer["forged"])
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_GRACE_S)
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.contextmanager
def access(
    project: Path,
    mode: str,
    scopes: list[str],
    *,
    prefix: str = ENV_PREFIX,
    python: Path | None = None,
) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """Yield (service environment, request headers) of a caller holding `scopes`.

    Args:
        project: The bake; a jwt bake's issuer runs from it (`tests.issuer`).
        mode: The bake's `auth` answer; `none` needs nothing.
        scopes: The scopes the caller holds.
        prefix: The bake's environment prefix (`ITEM_SERVICE_` for the default package).
        python: The interpreter that runs the issuer (default: the bake's own venv's).
    """
    if mode == "none":
        yield {}, {}
        return
    if mode == "api_key":
        # 43 characters of a 64-letter alphabet: what production's key checks ask for.
        key = secrets.token_urlsafe(32)
        keys = [{"id": "contract", "key": key, "scopes": scopes}]
        yield {f"{prefix}AUTH_API_KEYS": json.dumps(keys)}, {"X-API-Key": key}
        return
    with issuer_process(project, scopes, prefix=prefix, python=python) as issuer:
        yield issuer.env, {"Authorization": f"Bearer {issuer.token}"}
