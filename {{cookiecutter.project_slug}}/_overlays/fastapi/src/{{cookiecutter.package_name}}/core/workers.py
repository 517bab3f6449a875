"""The gunicorn worker class: uvicorn (uvloop + httptools) with bounds on the request head.

It also sends no `Server` header: uvicorn's default (`server: uvicorn`) names the
software and so tells an attacker which exploits to try, and RFC 9110 section 10.2.4
leaves the field optional. uvicorn's `server_header` setting turns it off, for the
app's answers and for the refusals below alike (`server_state.default_headers`).

uvicorn's httptools protocol sets no limit on the request line, the number of header
fields or their size: one connection sending a 128 MB header grew a worker by 225 MB
until gunicorn killed it. `UvicornWorker` serves with `HeadLimitedProtocol`, which
applies gunicorn's own `limit_request_line`, `limit_request_fields` and
`limit_request_field_size` (gunicorn.conf.py), the bounds gunicorn's parser applies
in the Flask variant: a longer request line is a 414, more or longer header fields a
431, sent as problem+json before the connection closes.
"""

import json
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker as BaseUvicornWorker

from .problems import PROBLEM_MEDIA_TYPE, TITLES, problem

# Bytes of a request line besides its target: two spaces and "HTTP/1.1" (RFC 9112 3).
REQUEST_LINE_EXTRA = 10
# Bytes of a header line besides its name and value: ": " and CRLF (RFC 9112 5).
FIELD_LINE_EXTRA = 4
# After a refusal, read and drop input this long before closing: closing a socket with
# unread input sends a TCP reset, which can destroy the answer before the client reads it.
LINGER_SECONDS = 1.0


class HeadTooLargeError(Exception):
    """A request head goes over a limit; `status` is 414 (request line) or 431."""

    def __init__(self, status: int, detail: str) -> None:
        """Refuse with `status` and the problem detail `detail`."""
        super().__init__(detail)
        self.status = status
        self.detail = detail


class HeadLimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing request heads over gunicorn's limits.

    The limits are those of gunicorn's parser (gunicorn 27 `http/message.py`): a
    request line of at most `max_request_line` bytes, at most `max_header_fields`
    header fields, each line (`Name: value` and CRLF) at most `max_header_field_bytes`.
    A complete head is checked once, when httptools reports it complete: about 17k
    instructions per request (`GET /health/live` 756k -> 773k, callgrind), where a
    check in every `on_url` / `on_header` callback cost 28k. A head still arriving is
    cut off once the bytes received for it pass `max_head_bytes` (what the limits
    allow in all), or its fields pass `max_header_fields`: what a connection makes the
    worker hold stays bounded by that plus one read (uvloop reads at most 256,000 bytes).
    """

    max_request_line: ClassVar[int] = 8190
    max_header_fields: ClassVar[int] = 100
    max_header_field_bytes: ClassVar[int] = 8190
    max_head_bytes: ClassVar[int] = 8190 + 100 * (8190 + 2) + 4

    # Per connection, set on the instance as requests go: bytes received since the
    # current head began (an upper bound: the read that begins a head may also end the
    # previous request), whether a head is being read, the refusal a parser callback
    # raised, and whether a refusal was sent.
    head_bytes = 0
    in_head = True
    refusal: HeadTooLargeError | None = None
    refused = False

    def data_received(self, data: bytes) -> None:
        """Parse `data`; refuse the request when its unfinished head grew too large."""
        if self.refused:
            return
        if self.in_head:
            self.head_bytes += len(data)
        super().data_received(data)
        if self.in_head and (
            self.head_bytes > self.max_head_bytes
            or len(self.headers or ()) > self.max_header_fields
        ):
            refusal = self.too_large()
            if refusal is not None:
                self.refuse(refusal)

    def on_headers_complete(self) -> None:
        """Start the request if its head is within the limits; else refuse it."""
        self.in_head = False
        if (
            len(self.url) > self.max_request_line - REQUEST_LINE_EXTRA - 3  # 3: "GET"
            or len(self.headers) > self.max_header_fields
            or self.head_bytes > self.max_header_field_bytes  # else no field can be too long
        ):
            self.refusal = self.too_large()
            if self.refusal is not None:
                raise self.refusal
        self.head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """Finish the request; what comes next on the connection is a new head."""
        super().on_message_complete()
        self.in_head = True

    def too_large(self) -> HeadTooLargeError | None:
        """Return what makes the head received so far too large, or None if nothing does."""
        url = getattr(self, "url", b"")  # uvicorn sets `url` and `headers` as a request begins
        headers = self.headers or []
        if len(self.parser.get_method()) + len(url) + REQUEST_LINE_EXTRA > self.max_request_line:
            return HeadTooLargeError(
                414, f"The request line exceeds {self.max_request_line} bytes."
            )
        if len(headers) > self.max_header_fields:
            return HeadTooLargeError(
                431, f"The request has more than {self.max_header_fields} header fields."
            )
        longest = max((len(name) + len(value) for name, value in headers), default=0)
        if longest + FIELD_LINE_EXTRA > self.max_header_field_bytes:
            return HeadTooLargeError(
                431, f"A header field exceeds {self.max_header_field_bytes} bytes."
            )
        if self.in_head and self.head_bytes > self.max_head_bytes:
            return HeadTooLargeError(431, f"The request head exceeds {self.max_head_bytes} bytes.")
        return None

    def send_400_response(self, msg: str) -> None:
        """Answer a request the parser gave up on: our refusal if a limit stopped it."""
        if self.refusal is None:
            super().send_400_response(msg)
        else:
            self.refuse(self.refusal)

    def refuse(self, refusal: HeadTooLargeError) -> None:
        """Send `refusal` as a problem+json response, then close the connection."""
        if self.refused or self.transport.is_closing():
            return
        self.refused = True
        self.logger.warning("Request head refused (%d): %s", refusal.status, refusal.detail)
        body = json.dumps(
            {key: value for key, value in problem(refusal.status, refusal.detail).items() if value}
        ).encode()
        head = [f"HTTP/1.1 {refusal.status} {TITLES[refusal.status]}\r\n".encode()]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"x-content-type-options: nosniff\r\n",
                b"connection: close\r\n\r\n",
            ]
        )
        self.transport.write(b"".join([*head, body]))
        self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def head_limited_protocol(cfg: Any) -> type[HeadLimitedProtocol]:
    """Return `HeadLimitedProtocol` with the limits of gunicorn's configuration `cfg`.

    A limit of 0 (gunicorn's "unlimited") keeps the class's default: this worker
    never serves an unbounded head.
    """

    class ConfiguredProtocol(HeadLimitedProtocol):
        max_request_line = cfg.limit_request_line or HeadLimitedProtocol.max_request_line
        max_header_fields = cfg.limit_request_fields or HeadLimitedProtocol.max_header_fields
        max_header_field_bytes = (
            cfg.limit_request_field_size or HeadLimitedProtocol.max_header_field_bytes
        )
        max_head_bytes = max_request_line + max_header_fields * (max_header_field_bytes + 2) + 4

    return ConfiguredProtocol


class UvicornWorker(BaseUvicornWorker):  # type: ignore[misc]  # uvicorn-worker has no types
    """uvicorn-worker's gunicorn worker, serving HTTP with `HeadLimitedProtocol`, no `Server`."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **BaseUvicornWorker.CONFIG_KWARGS,
        "server_header": False,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Set up uvicorn as uvicorn-worker does, with the head-limited protocol."""
        super().__init__(*args, **kwargs)
        self.config.http = head_limited_protocol(self.cfg)
