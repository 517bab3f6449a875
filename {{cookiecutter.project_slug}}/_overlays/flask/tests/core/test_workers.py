"""The worker: refused heads answered as problem+json, closed lingering so the answer arrives."""

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from gunicorn.config import Config
from gunicorn.http.errors import LimitRequestHeaders

from {{ cookiecutter.package_name }}.core.workers import GeventWorker, linger, problem_response

# The refusal, with a body larger than the client's receive buffer (CLIENT_RCVBUF) below.
ANSWER_BODY = b"x" * 64 * 2**10
ANSWER = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    + f"Content-Length: {len(ANSWER_BODY)}\r\nConnection: close\r\n\r\n".encode()
    + ANSWER_BODY
)
# The client's receive buffer (bytes): less than the answer, so most of the answer is
# still in the server's send queue when the server closes, as on a real network where
# the answer is in flight for a round trip. On loopback a small answer lands in the
# client's buffer at once, and Linux lets a client read what it holds even after a
# reset (the old version of this test could not fail for that reason).
CLIENT_RCVBUF = 4096
# The request: an oversized head the server refuses after reading its first 64 KiB.
# All of it fits in the socket buffers, so it is sent in full before the server reads,
# and the rest (192 KiB, within LINGER_MAX_BYTES) is unread when the server answers.
REQUEST = b"x" * 256 * 2**10


@pytest.fixture
def connection() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Yield a (client, server) pair of connected loopback TCP sockets, buffers set as above."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2**20)  # inherited
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF)
        client.connect(listener.getsockname())
        server, _ = listener.accept()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2**20)  # holds ANSWER at once
    with client, server:
        yield client, server


def refuse_while_client_waits(
    client: socket.socket, server: socket.socket, refuse: Callable[[socket.socket], None]
) -> tuple[bytes, str]:
    """Send REQUEST from `client`; `server` reads 64 KiB of it, `refuse`s it and closes.

    The client reads only once its request is sent, as an HTTP client does. Returns what
    the client received and how the connection ended: "EOF" (an orderly close) or the
    name of the error that ended it (a reset: the server closed with unread input, and
    TCP discards what it had not delivered yet).
    """
    sent = threading.Event()
    outcome: list[tuple[bytes, str]] = []

    def client_side() -> None:
        client.sendall(REQUEST)
        sent.set()
        received, end = b"", "EOF"
        try:
            while chunk := client.recv(65536):
                received += chunk
        except OSError as error:
            end = type(error).__name__
        outcome.append((received, end))

    reader = threading.Thread(target=client_side, daemon=True)
    reader.start()
    assert sent.wait(10), "the request did not fit in the socket buffers"
    server.recv(65536)
    refuse(server)
    server.close()
    reader.join(10)
    [(received, end)] = outcome
    return received, end


def test_lingering_close_delivers_the_answer(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    def answer_and_linger(server: socket.socket) -> None:
        server.sendall(ANSWER)
        linger(server)

    received, end = refuse_while_client_waits(*connection, answer_and_linger)
    assert (len(received), end) == (len(ANSWER), "EOF")
    assert received == ANSWER


def test_the_worker_answers_an_oversized_head_and_closes_lingering(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    """gunicorn hands the worker the refused head's error; the client gets the 431 problem,
    then an orderly close (EOF), not the reset of a close with its input unread."""
    worker = object.__new__(GeventWorker)  # only what handle_error reads: no process
    worker.cfg = Config()
    worker.log = logging.getLogger("test_workers")
    refused = LimitRequestHeaders("a header field is longer than limit_request_field_size")

    def handle_error(server: socket.socket) -> None:
        worker.handle_error(None, server, ("127.0.0.1", 0), refused)

    received, end = refuse_while_client_waits(*connection, handle_error)
    assert received.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert end == "EOF"


def test_a_refused_head_is_answered_as_problem_json() -> None:
    head, _, body = problem_response(431, "Too many fields.").partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 431 Request Header Fields Too Large"
    assert "Content-Type: application/problem+json" in lines
    assert f"Content-Length: {len(body)}" in lines
    assert "Connection: close" in lines
    assert json.loads(body) == {
        "type": "about:blank",
        "title": "Request Header Fields Too Large",
        "status": 431,
        "detail": "Too many fields.",
    }
