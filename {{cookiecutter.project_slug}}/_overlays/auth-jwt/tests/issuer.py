"""A token issuer for tests: keys made at test time, JWKS served over loopback HTTP.

The key server can be `up`, down (503) or `drip` (a byte per `drip_interval_s`
seconds, the slowest answer that never times out a socket read). `forgeries()` makes
tokens a caller without the issuer's keys (or with the wrong one) could send.

`python -m tests.issuer` runs one for other processes (the template's own tests): it
prints one JSON line (`issuer`, `jwks_url`, `audience`, `token`: a token with the
scopes given as arguments, valid one hour; `forged`: `forgeries()` by name) and serves
until its standard input closes. Each line it reads sets the key server's state: `up`,
`down` or `drip`.
"""

import base64
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
        self.drip = False
        self.drip_interval_s = 1.0
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
                if issuer.drip:
                    self.drip(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def drip(self, body: bytes) -> None:
                """Send the whole answer, status line first, a byte at a time."""
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                try:
                    for index in range(len(head + body)):
                        self.wfile.write((head + body)[index : index + 1])
                        time.sleep(issuer.drip_interval_s)
                except OSError:
                    pass  # the client gave up
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                """Stay quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # a dripping answer must not hold up `stop`
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
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

    def forgeries(self, scope: str = "") -> dict[str, str]:
        """Return tokens the service must refuse (401 `invalid_token`), by name.

        Each names one of the issuer's keys, or claims to; none is a token the issuer
        would sign: a signature by another key or of another algorithm, junk, headers
        that point elsewhere for keys, or claims no clock can compare.
        """
        rsa_key, ec_key = self.keys["rsa-1"], self.keys["ec-1"]
        intruder = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        intruder_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(intruder.public_key()))
        claims = self.claims(scope=scope)

        def signed(key: Any, algorithm: str, header: dict[str, Any], **changes: Any) -> str:
            return jwt.encode({**claims, **changes}, key, algorithm=algorithm, headers=header)

        junk = b64(b"\x00" * 256)
        return {
            "es256-naming-the-rsa-key": signed(ec_key, "ES256", {"kid": "rsa-1"}),
            "rs256-naming-the-ec-key": signed(rsa_key, "RS256", {"kid": "ec-1"}),
            "ps256-naming-the-ec-key": signed(rsa_key, "PS256", {"kid": "ec-1"}),
            "es256-junk-signature": unsigned({"alg": "ES256", "kid": "rsa-1"}, claims, junk),
            "rs256-junk-signature": unsigned({"alg": "RS256", "kid": "rsa-1"}, claims, junk),
            "empty-signature": unsigned({"alg": "RS256", "kid": "rsa-1"}, claims, ""),
            "intruder-key": signed(intruder, "RS256", {"kid": "rsa-1"}),
            "jku-elsewhere": signed(
                intruder, "RS256", {"kid": "rsa-1", "jku": "http://127.0.0.1:9/jwks.json"}
            ),
            "jwk-embedded": signed(intruder, "RS256", {"kid": "rsa-1", "jwk": intruder_jwk}),
            "x5u-elsewhere": signed(
                intruder, "RS256", {"kid": "rsa-1", "x5u": "http://127.0.0.1:9/cert.pem"}
            ),
            "typ-a-number": unsigned({"alg": "RS256", "kid": "rsa-1", "typ": 7}, claims, junk),
            "crit-unknown": unsigned(
                {"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}, claims, junk
            ),
            "crit-not-a-list": unsigned({"alg": "RS256", "kid": "rsa-1", "crit": 1}, claims, junk),
            "kid-a-number": unsigned({"alg": "RS256", "kid": 12345}, claims, junk),
            "kid-a-list": unsigned({"alg": "RS256", "kid": ["rsa-1"]}, claims, junk),
            "alg-a-list": unsigned({"alg": ["RS256"], "kid": "rsa-1"}, claims, junk),
            "alg-none": unsigned({"alg": "none", "kid": "rsa-1"}, claims, ""),
            "header-huge-number": unsigned(
                {"alg": "RS256", "kid": "rsa-1", "x": 10**400}, claims, junk
            ),
            "exp-infinite": signed(rsa_key, "RS256", {"kid": "rsa-1"}, exp=float("inf")),
            "exp-not-a-number": signed(rsa_key, "RS256", {"kid": "rsa-1"}, exp=float("nan")),
            "exp-negative": signed(rsa_key, "RS256", {"kid": "rsa-1"}, exp=-(10**30)),
            "iat-huge": signed(rsa_key, "RS256", {"kid": "rsa-1"}, iat=10**400),
            "nbf-a-string": signed(rsa_key, "RS256", {"kid": "rsa-1"}, nbf="now"),
        }

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()


def b64(data: bytes) -> str:
    """Return `data` base64url-encoded without padding (JWS segments)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str) -> str:
    """Return a compact JWS of `header` and `claims` with `signature` (already encoded)."""
    parts = [json.dumps(header).encode(), json.dumps(claims).encode()]
    return ".".join([*(b64(part) for part in parts), signature])


def main() -> None:
    """Serve an issuer; print its coordinates, a token with `argv[1:]` as scopes, forgeries."""
    issuer = Issuer()
    scope = " ".join(sys.argv[1:])
    line = {
        "issuer": issuer.url,
        "jwks_url": issuer.jwks_url,
        "audience": AUDIENCE,
        "token": issuer.token(scope=scope),
        "forged": issuer.forgeries(scope),
    }
    print(json.dumps(line), flush=True)
    for command in sys.stdin:
        state = command.strip()
        issuer.up = state != "down"
        issuer.drip = state == "drip"
        print(state, flush=True)
    issuer.stop()


if __name__ == "__main__":
    main()
