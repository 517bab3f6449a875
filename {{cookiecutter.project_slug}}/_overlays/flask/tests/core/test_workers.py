"""The worker: refused heads answered as problem+json, closed lingering."""

import contextlib
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from {{ cookiecutter.package_name }}.core.workers import linger, problem_response

ANSWER = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"


@pytest.fixture
def connection() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Yield a (client, server) pair of connected TCP sockets on loopback."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    with client, server:
        yield client, server


def refuse_while_client_sends(
    client: socket.socket, server: socket.socket, *, lingering: bool
) -> bytes:
    """Send 4 MiB from `client` while `server` answers after 64 KiB and closes."""
    sender = threading.Thread(target=send_quietly, args=(client, b"x" * 4 * 2**20), daemon=True)
    sender.start()
    server.recv(65536)
    server.sendall(ANSWER)
    if lingering:
        linger(server)
    server.close()
    sender.join(10)
    received = b""
    try:
        while chunk := client.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def send_quietly(sock: socket.socket, data: bytes) -> None:
    """Send `data`, ignoring the error of a peer that closed."""
    with contextlib.suppress(OSError):
        sock.sendall(data)


def test_lingering_close_delivers_the_answer(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    assert refuse_while_client_sends(*connection, lingering=True) == ANSWER


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
