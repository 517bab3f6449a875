"""Logging: request ids and JSON rendering."""

import json
import logging

import pytest
import structlog

from {{ cookiecutter.package_name }}.core.logs import configure_logging, request_id_from


def test_sane_request_id_is_kept_and_others_replaced() -> None:
    assert request_id_from("abc-123") == "abc-123"
    assert request_id_from(None) != request_id_from(None)
    assert request_id_from("x" * 200) != "x" * 200
    assert request_id_from("a\nb") != "a\nb"


def test_json_lines_carry_bound_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    structlog.contextvars.bind_contextvars(request_id="r-1")
    try:
        structlog.get_logger("test").info("hello", answer=42)
        logging.getLogger("gunicorn.error").info("from gunicorn")
    finally:
        structlog.contextvars.clear_contextvars()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["event"] == "hello"
    assert (lines[0]["request_id"], lines[0]["answer"], lines[0]["level"]) == ("r-1", 42, "info")
    assert lines[1]["logger"] == "gunicorn.error"


def test_every_event_is_one_ascii_json_line_whatever_its_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    log = structlog.get_logger("test")
    # Characters some readers take as line breaks, an integer beyond 64 bits, an object.
    log.info("odd values", path="/caf\u00e9\u2028\x85", big=2**70, thing=object())
    log.info("plain", status=200)
    out = capsys.readouterr().out
    assert out.isascii()
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2
    assert (lines[0]["path"], lines[0]["big"]) == ("/caf\u00e9\u2028\x85", 2**70)
    assert lines[0]["thing"].startswith("<object object")
    assert (lines[1]["event"], lines[1]["status"]) == ("plain", 200)
