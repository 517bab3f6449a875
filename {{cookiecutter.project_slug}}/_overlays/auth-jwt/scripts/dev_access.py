"""Local development access: a `.env` for development and tokens of a local issuer.

`python scripts/dev_access.py env` (`make dev-env`) writes a `.env` with
`ENVIRONMENT=development` and `AUTH_JWT_DEV_ISSUER=true`, unless a `.env` exists.
`python scripts/dev_access.py token [SCOPE...]` (`make token SCOPES="..."`) prints a
token of the development issuer, valid one hour, holding the scopes given (default:
every resource's read and write scopes). The issuer's key pair is made on first use
under `.dev/` (git-ignored, never in the image): an EC P-256 key (ES256), the private
half readable by its owner only, the public half as the JWKS the service reads.

The service trusts these tokens only with `AUTH_JWT_DEV_ISSUER=true`, which start-up
refuses in production (`access.AccessSettings`).
"""

import hashlib
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from {{ cookiecutter.package_name }}.core.access import (
    DEV_AUDIENCE,
    DEV_ISSUER,
    DEV_JWKS,
    DEV_SIGNING_KEY,
    load_policy,
)
from {{ cookiecutter.package_name }}.core.settings import ENV_PREFIX

ENV_FILE = Path(".env")
TOKEN_LIFETIME_S = 3600
SUBJECT = "developer"


def write_env() -> str:
    """Write `.env` for local development unless it exists; return what was done."""
    if ENV_FILE.exists():
        return ".env exists: left as it is (remove it to write a development one)"
    ENV_FILE.write_text(
        "# Written by `make dev-env` for local development; never use it in production.\n"
        f"{ENV_PREFIX}ENVIRONMENT=development\n"
        "# Trust the local development issuer (`make token`, keys in .dev/).\n"
        f"{ENV_PREFIX}AUTH_JWT_DEV_ISSUER=true\n"
    )
    return "wrote .env (development, tokens from `make token`)"


def signing_key() -> ec.EllipticCurvePrivateKey:
    """Return the development issuer's private key, making the key pair on first use."""
    if DEV_SIGNING_KEY.exists():
        key = serialization.load_pem_private_key(DEV_SIGNING_KEY.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        DEV_SIGNING_KEY.parent.mkdir(exist_ok=True)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(DEV_SIGNING_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
    if not DEV_JWKS.exists():
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        DEV_JWKS.write_text(json.dumps({"keys": [{**public, "kid": key_id(key), "use": "sig"}]}))
    return key


def key_id(key: ec.EllipticCurvePrivateKey) -> str:
    """Return the key's id: `dev-` and a digest of its public half (a new pair, a new id)."""
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "dev-" + hashlib.sha256(public).hexdigest()[:16]


def every_scope() -> list[str]:
    """Return every resource's read and write scopes, as the service names them."""
    # Imported here: they load the web framework, which `env` and `token SCOPE...` need not.
    from {{ cookiecutter.package_name }}.core.guard import resource_scopes
    from {{ cookiecutter.package_name }}.resources import RESOURCES

    policy = load_policy(environment="development", auth_jwt_dev_issuer=True)
    return [scope for resource in RESOURCES for scope in resource_scopes(policy, resource)]


def token(scopes: list[str]) -> str:
    """Return a development token holding `scopes`, valid `TOKEN_LIFETIME_S` seconds."""
    key = signing_key()
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": SUBJECT,
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME_S,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(scopes),
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": key_id(key)})


def main(argv: list[str]) -> int:
    """Run `env` or `token [SCOPE...]`; return the exit status."""
    if argv[:1] == ["env"] and len(argv) == 1:
        print(write_env(), file=sys.stderr)
        return 0
    if argv[:1] == ["token"]:
        print(token(argv[1:] or every_scope()))
        return 0
    print("usage: dev_access.py env | token [SCOPE...]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
