"""The worker's HTTP protocol: request heads over gunicorn's limits get 414 or 431."""

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest
from gunicorn.config import Config as GunicornConfig
from starlette.types import Receive, Scope, Send
from uvicorn import Config, Server

from {{ cookiecutter.package_name }}.core.workers import head_limited_protocol

# Small limits, so each test sends little: the request line, fields, bytes per field.
LINE, FIELDS, FIELD = 64, 5, 40


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer every HTTP request 200 with an empty body."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    """Serve `hello` with the head-limited protocol on a free loopback port."""
    cfg = GunicornConfig()
    cfg.set("limit_request_line", LINE)
    cfg.set("limit_request_fields", FIELDS)
    cfg.set("limit_request_field_size", FIELD)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = Config(hello, http=head_limited_protocol(cfg), lifespan="off", log_config=None)
    server = Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn's Server offers only this flag)
        await asyncio.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    await task
    sock.close()


async def exchange(port: int, *heads: bytes) -> list[int]:
    """Send `heads` on one connection; return the status of each answer received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(heads))
    received = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    await writer.wait_closed()
    return [int(line.split()[1]) for line in received.split(b"\r\n") if line.startswith(b"HTTP/")]


def head(target: str = "/", *fields: bytes, close: bool = True) -> bytes:
    """Return a GET head: Host, then `fields`, then `Connection: close` if `close`."""
    lines = [f"GET {target} HTTP/1.1".encode(), b"Host: t", *fields]
    return b"\r\n".join([*lines, *([b"Connection: close"] if close else [])]) + b"\r\n\r\n"


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (1, 414)])
async def test_request_line_over_the_limit_is_414(port: int, extra: int, status: int) -> None:
    target = "/" + "a" * (LINE + extra - len("GET / HTTP/1.1"))
    assert await exchange(port, head(target)) == [status]


@pytest.mark.parametrize(("count", "status"), [(FIELDS, 200), (FIELDS + 1, 431)])
async def test_more_header_fields_than_the_limit_is_431(port: int, count: int, status: int) -> None:
    fields = [f"X-{n}: v".encode() for n in range(count - 2)]  # + Host, Connection
    assert await exchange(port, head("/", *fields)) == [status]


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (1, 431)])
async def test_header_field_over_the_limit_is_431(port: int, extra: int, status: int) -> None:
    field = b"X-Big: " + b"v" * (FIELD + extra - len("X-Big: \r\n"))
    assert await exchange(port, head("/", field)) == [status]


async def test_refusal_is_problem_json_and_closes_the_connection(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head("/", *[b"X: v"] * FIELDS, close=False))
    answer = await asyncio.wait_for(reader.read(), timeout=5)  # read() returns at close
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert b"content-type: application/problem+json" in headers.lower()
    assert json.loads(body)["status"] == 431


async def test_a_header_that_never_ends_is_cut_off(port: int) -> None:
    endless = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"v" * 100_000  # no end of line
    assert await exchange(port, endless) == [431]


async def test_limits_count_each_request_of_a_connection_afresh(port: int) -> None:
    fields = [f"X-{n}: v".encode() for n in range(FIELDS - 1)]
    heads = [head("/", *fields, close=False)] * 3 + [head("/", *fields[:-1])]
    assert await exchange(port, *heads) == [200] * 4
