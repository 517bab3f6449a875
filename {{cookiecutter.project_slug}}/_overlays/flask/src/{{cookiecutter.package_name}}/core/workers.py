"""The gunicorn worker class: gevent, answering refused request heads as problem+json.

It also sends no `Server` header. gunicorn (checked with 27.0) writes `Server: gunicorn`
into every response it frames (`http.wsgi.Response.default_headers`) and has no
setting to leave it out; it names the software, which tells an attacker which exploits
to try, and RFC 9110 section 10.2.4 leaves the field optional. `GeventWorker` serves
with `Response`, which leaves the line out (gunicorn's own 400 pages, `util.write_error`,
carry none).

gunicorn's own parser bounds the request head (`limit_request_line`,
`limit_request_fields`, `limit_request_field_size` in gunicorn.conf.py) and refuses a
head over them before the app runs, with a short HTML page. `GeventWorker` answers
those refusals (414, 431) as problem+json instead, as the FastAPI variant's worker
does, and then closes the connection lingering: it reads and drops what is still coming
for up to `LINGER_SECONDS` first. Closing a socket with unread input (the rest of an
oversized header) sends a TCP reset, which can destroy the answer before the client
reads it (seen: a 1 MiB header got "connection reset" instead of 431). Under gevent the
wait costs a greenlet, not a thread.

An over-long header line is refused as soon as it is longer than a field may be
(`Request`), not once the whole head buffer is full: gunicorn 27 copies and rescans the
head it has so far on every read (`http/message.py`, 8 KB reads), so a 1 MiB header cost
0.1-0.2 s of CPU inside the gevent loop before its 431 (8 at once stalled `/health/live`
for up to 2.5 s).
"""

import json
import socket
import time
from typing import Any

from gunicorn.http import message, parser, wsgi
from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.workers.ggevent import GeventWorker as BaseGeventWorker

# After a refusal, read and drop input this long (seconds) before closing ...
LINGER_SECONDS = 1.0
# ... and at most this much of it (bytes): what the head limits allow in all.
LINGER_MAX_BYTES = 8190 + 100 * (8190 + 2) + 4


class Response(wsgi.Response):  # type: ignore[misc]  # gunicorn has no types
    """gunicorn's HTTP/1 response, without the `Server` header."""

    def default_headers(self) -> list[str]:
        """Return gunicorn's status line and headers but `Server`."""
        return [line for line in super().default_headers() if not line.startswith("Server:")]


class Request(message.Request):  # type: ignore[misc]  # gunicorn has no types
    """gunicorn's request parser, refusing a header line over the field limit as it arrives.

    After each read of the head (once the request line is parsed), the unfinished last
    line is measured within a window of one field's length: a line longer than
    `limit_request_field_size` is refused with `LimitRequestHeaders` (431) at once. What
    gunicorn refuses does not change, only how many bytes it reads first.
    """

    def read_into(self, unreader: Any, buf: bytearray, stop: bool = False) -> None:
        """Read more of the request; refuse a header line that is already too long."""
        super().read_into(unreader, buf, stop)
        if self.version is None:  # still in the request line: gunicorn's 414 check applies
            return
        longest = self.limit_request_field_size + 2  # the field and its CRLF
        start = max(0, len(buf) - longest - 1)
        if len(buf) > longest and buf.rfind(b"\n", start) < 0:
            raise LimitRequestHeaders("a header field is longer than limit_request_field_size")


class GeventWorker(BaseGeventWorker):  # type: ignore[misc]  # gunicorn has no types
    """gunicorn's gevent worker; refused request heads get problem+json and a lingering close."""

    def init_process(self) -> None:
        """Frame responses with `Response` (no `Server` header), parse with `Request`, serve.

        gunicorn 27 builds each HTTP/1 response with the class its `http.wsgi` module
        names (`wsgi.create`, called by the worker with no class of its own), and each
        request with `http.parser.RequestParser.mesg_class`, so the worker process
        replaces both names before it serves anything.
        """
        wsgi.Response = Response
        parser.RequestParser.mesg_class = Request
        super().init_process()

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: Exception) -> None:
        """Answer a head over the limits with a 414/431 problem; other errors as gunicorn does."""
        if isinstance(exc, LimitRequestLine):
            refusal = (414, f"The request line exceeds {self.cfg.limit_request_line} bytes.")
        elif isinstance(exc, LimitRequestHeaders):
            refusal = (
                431,
                f"The request head exceeds {self.cfg.limit_request_fields} header fields "
                f"or {self.cfg.limit_request_field_size} bytes in one field.",
            )
        else:
            super().handle_error(req, client, addr, exc)
            linger(client)
            return
        self.log.warning("Request head refused (%d): %s", *refusal)
        try:
            client.sendall(problem_response(*refusal))
        except OSError:
            return
        linger(client)


def problem_response(status: int, detail: str) -> bytes:
    """Return a complete HTTP/1.1 problem+json response that closes the connection."""
    # Imported here, in the worker: the gunicorn master imports this module to find the
    # worker class, and `problems` imports pymongo, which must first be imported after
    # gevent patched the worker's `ssl` (see gunicorn.conf.py).
    from .problems import PROBLEM_MEDIA_TYPE, TITLES, problem

    body = json.dumps({key: value for key, value in problem(status, detail).items() if value})
    head = (
        f"HTTP/1.1 {status} {TITLES[status]}\r\n"
        f"Content-Type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Connection: close\r\n\r\n"
    )
    return (head + body).encode()


def linger(client: socket.socket) -> None:
    """Stop sending, then read and drop input until EOF, `LINGER_SECONDS` or `LINGER_MAX_BYTES`.

    Errors are ignored: the connection is closing anyway.
    """
    deadline = time.monotonic() + LINGER_SECONDS
    dropped = 0
    try:
        client.shutdown(socket.SHUT_WR)
        while dropped < LINGER_MAX_BYTES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            client.settimeout(remaining)
            chunk = client.recv(65536)
            if not chunk:
                break
            dropped += len(chunk)
    except OSError:
        pass
