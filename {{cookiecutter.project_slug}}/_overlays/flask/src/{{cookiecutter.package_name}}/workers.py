"""The gunicorn worker class: gevent, with a lingering close after a refused request.

gunicorn's own parser bounds the request head (`limit_request_line`,
`limit_request_fields`, `limit_request_field_size` in gunicorn.conf.py) and answers
414 or 431 itself, before the app runs. It then closes the socket at once, often with
input still unread (the rest of an oversized header), and closing a socket with unread
input sends a TCP reset, which can destroy the answer before the client reads it: the
client sees "connection reset" instead of the 431. `GeventWorker` reads and drops what
is still coming for up to `LINGER_SECONDS` first, as the FastAPI variant's worker does
(a lingering close, RFC 9112 section 9.6). Under gevent the wait costs a greenlet, not
a thread.
"""

import socket
import time
from typing import Any

from gunicorn.workers.ggevent import GeventWorker as BaseGeventWorker

# After a refusal, read and drop input this long before closing (seconds).
LINGER_SECONDS = 1.0
# ... and at most this much of it (bytes): what the head limits allow in all.
LINGER_MAX_BYTES = 8190 + 100 * (8190 + 2) + 4


class GeventWorker(BaseGeventWorker):  # type: ignore[misc]
    """gunicorn's gevent worker, lingering before it closes a refused connection."""

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: Exception) -> None:
        """Answer the error as gunicorn does, then drain the client's input briefly."""
        super().handle_error(req, client, addr, exc)
        linger(client)


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
