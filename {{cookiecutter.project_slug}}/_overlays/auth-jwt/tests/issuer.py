"""A token issuer for tests: keys made at test time, JWKS served over loopback HTTP.

`python -m tests.issuer` runs one for other processes (the template's own tests): it
prints one JSON line (`issuer`, `jwks_url`, `audience`, `token`: a token with every
resource's scopes, valid one hour) and serves until its standard input closes.
"""

import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "{{ cookiecutter.project_slug }}"


class Issuer:
    """An identity provider's key endpoint on 127.0.0.1, and a signer of its tokens."""

    def __init__(self) -> None:
        """Make an RSA and an EC key and serve both in a JWKS on a free port."""
        self.keys: dict[str, Any] = {
            "rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec-1": ec.generate_private_key(ec.SECP256R1()),
        }
        self.fetches = 0
        self.up = True
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetches += 1
                documents = {
                    "/jwks.json": issuer.jwks,
                    "/.well-known/openid-configuration": issuer.discovery,
                }
                if not issuer.up or self.path not in documents:
                    self.send_error(503 if not issuer.up else 404)
                    return
                body = json.dumps(documents[self.path]()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Stay quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.jwks_url = f"{self.url}jwks.json"

    def jwks(self) -> dict[str, Any]:
        """Return the public keys as a JWK set."""
        keys = []
        for kid, key in self.keys.items():
            if isinstance(key, rsa.RSAPrivateKey):
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            else:
                jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": keys}

    def discovery(self) -> dict[str, Any]:
        """Return the OpenID Connect discovery document (OIDC Discovery 1.0, section 3)."""
        return {"issuer": self.url, "jwks_uri": self.jwks_url}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Return valid claims for a token (one hour), with `overrides` on top."""
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "user-42",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "jti": uuid.uuid4().hex,
            "scope": "",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, kid: str = "rsa-1", algorithm: str | None = None, **claims: Any) -> str:
        """Return a token with key id `kid`, signed RS256 by an RSA key, else ES256."""
        key = self.keys.get(kid) or self.keys["rsa-1"]  # a made-up kid: signed by rsa-1
        algorithm = algorithm or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
        return jwt.encode(self.claims(**claims), key, algorithm=algorithm, headers={"kid": kid})

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    """Serve an issuer; print its coordinates and a token with `argv[1:]` as scopes."""
    issuer = Issuer()
    line = {
        "issuer": issuer.url,
        "jwks_url": issuer.jwks_url,
        "audience": AUDIENCE,
        "token": issuer.token(scope=" ".join(sys.argv[1:])),
    }
    print(json.dumps(line), flush=True)
    sys.stdin.read()
    issuer.stop()


if __name__ == "__main__":
    main()
