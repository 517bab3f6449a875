"""Local development access: a `.env` for development with a key of its own.

`python scripts/dev_access.py env` (`make dev-env`) writes a `.env` with
`ENVIRONMENT=development` and `AUTH_API_KEYS` holding one new random key (id `dev`)
with every resource's read and write scopes, unless a `.env` exists. The key is also
written to `.dev/api-key` (git-ignored, never in the image, readable by its owner
only), so that examples can send it: `-H "X-API-Key: $(cat .dev/api-key)"`.
"""

import json
import os
import secrets
import sys
from pathlib import Path

from {{ cookiecutter.package_name }}.core.access import load_policy
from {{ cookiecutter.package_name }}.core.guard import resource_scopes
from {{ cookiecutter.package_name }}.core.settings import ENV_PREFIX
from {{ cookiecutter.package_name }}.resources import RESOURCES

ENV_FILE = Path(".env")
DEV_KEY = Path(".dev") / "api-key"
KEY_ID = "dev"


def every_scope(key: str) -> list[str]:
    """Return every resource's read and write scopes, as the service names them."""
    keys = [{"id": KEY_ID, "key": key, "scopes": []}]
    policy = load_policy(environment="development", auth_api_keys=keys)
    return [scope for resource in RESOURCES for scope in resource_scopes(policy, resource)]


def write_env() -> str:
    """Write `.env` and `.dev/api-key` for local development unless `.env` exists."""
    if ENV_FILE.exists():
        return ".env exists: left as it is (remove it to write a development one)"
    key = secrets.token_urlsafe(32)  # 43 characters from a 64-letter alphabet
    DEV_KEY.parent.mkdir(exist_ok=True)
    DEV_KEY.unlink(missing_ok=True)
    descriptor = os.open(DEV_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    keys = [{"id": KEY_ID, "key": key, "scopes": every_scope(key)}]
    ENV_FILE.write_text(
        "# Written by `make dev-env` for local development; never use it in production.\n"
        f"{ENV_PREFIX}ENVIRONMENT=development\n"
        "# One key, also in .dev/api-key: send it as X-API-Key.\n"
        f"{ENV_PREFIX}AUTH_API_KEYS={json.dumps(keys)}\n"
    )
    return "wrote .env (development) and .dev/api-key (the key to send as X-API-Key)"


def main(argv: list[str]) -> int:
    """Run `env`; return the exit status."""
    if argv == ["env"]:
        print(write_env(), file=sys.stderr)
        return 0
    print("usage: dev_access.py env", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
