"""Credentials for served bakes that have an access mode: a test issuer or a key.

A jwt bake's issuer runs in the bake's own venv (`python -m tests.issuer`, its generated
test helper: keys made at start, JWKS over loopback HTTP), so the template's venv
needs no JOSE library.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support import ENV_PREFIX

STOP_GRACE_S = 10


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
        key = secrets.token_hex(32)
        keys = [{"id": "contract", "key": key, "scopes": scopes}]
        yield {f"{prefix}AUTH_API_KEYS": json.dumps(keys)}, {"X-API-Key": key}
        return
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
        yield env, {"Authorization": f"Bearer {issuer['token']}"}
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
