"""Structured logging (structlog), shared by the app and gunicorn.

Every line, ours and the servers', is rendered by the same structlog processors as a
JSON line (or a readable console line in development). The app's own events are
rendered by structlog directly (the access event runs on every request, and the
standard library's record and handler machinery would cost about as much again);
the standard library's records (gunicorn, uvicorn, pymongo) go through a
`ProcessorFormatter` with the same processors. Request-scoped values such as
`request_id` come from `structlog.contextvars` and appear on every line of a request.
"""

import json
import logging.config
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import orjson
import structlog
from structlog.types import EventDict, Processor

from .metrics import METRICS_PATH

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HEALTH_PREFIX = "/health/"


def _drop_color_message(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """Remove uvicorn's `color_message` extra, a duplicate with ANSI codes."""
    event_dict.pop("color_message", None)
    return event_dict


def _shared_processors(extra: Sequence[Processor] = ()) -> list[Processor]:
    """Return the processors every line passes, structlog's and stdlib's alike, then `extra`."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *extra,
    ]


_ENCODER = json.JSONEncoder(default=repr)


def _dumps(event_dict: Any, **_: Any) -> str:
    """Serialise one event as a JSON line's text; values JSON cannot hold are written as their repr.

    orjson writes it about ten times faster than the standard library (the access event
    runs on every request). A line with any non-ASCII character, or a value orjson
    refuses (an integer beyond 64 bits, a key that is not a string), is written by the
    standard library instead, which escapes everything beyond ASCII: a line never
    holds a character that some readers take as a line break (U+0085, U+2028).
    structlog's keyword arguments are ignored.
    """
    try:
        text = orjson.dumps(event_dict, default=repr).decode()
    except orjson.JSONEncodeError:
        return _ENCODER.encode(event_dict)
    return text if text.isascii() else _ENCODER.encode(event_dict)


def _renderer(fmt: str) -> Processor:
    """Return the final processor: JSON lines, or console lines in development."""
    if fmt == "json":
        return structlog.processors.JSONRenderer(serializer=_dumps)
    return structlog.dev.ConsoleRenderer(colors=False)


class _Stdout:
    """Write to whatever `sys.stdout` is at the time (test runners swap it per test)."""

    def write(self, text: str) -> int:
        """Write `text` to the current stdout."""
        return sys.stdout.write(text)

    def flush(self) -> None:
        """Flush the current stdout: one line per event reaches a pipe at once."""
        sys.stdout.flush()


class _NamedWriteLogger(structlog.WriteLogger):
    """structlog's line writer, named like a stdlib logger (for `add_logger_name`)."""

    def __init__(self, name: str) -> None:
        """Write lines to stdout under logger `name`."""
        super().__init__(_Stdout())  # type: ignore[arg-type]
        self.name = name


def _logger_factory(*args: Any) -> _NamedWriteLogger:
    """Create the logger for `structlog.get_logger(name)`."""
    return _NamedWriteLogger(str(args[0]) if args else "")


def logging_config(level: str, fmt: str, extra: Sequence[Processor] = ()) -> dict[str, Any]:
    """Return a `logging.config.dictConfig` dict; gunicorn uses it as `logconfig_dict`.

    Args:
        level: Lowest level logged, e.g. "INFO".
        fmt: "json" or "console".
        extra: Processors every line passes before it is rendered (`tracing.log_processors`).
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": [*_shared_processors(extra), _drop_color_message],
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    _renderer(fmt),
                ],
            }
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "structlog",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # Servers' own loggers go through the same handler (no duplicates).
            **{
                name: {"handlers": [], "propagate": True}
                for name in ("gunicorn.error", "uvicorn", "uvicorn.error")
            },
            # The app emits one access event per request itself.
            **{
                name: {"handlers": [], "propagate": False, "level": "WARNING"}
                for name in ("gunicorn.access", "uvicorn.access")
            },
            "pymongo": {"level": "WARNING"},
        },
    }


def configure_logging(level: str, fmt: str, extra: Sequence[Processor] = ()) -> None:
    """Configure structlog and the standard library for this process (`logging_config`'s args)."""
    logging.config.dictConfig(logging_config(level, fmt, extra))
    # The logging HOWTO's "Optimization" switches: no renderer here prints the caller,
    # thread or process of a record, so stop collecting them for every record (the
    # caller lookup walks the stack). bench/ablate.py measured about -46k instructions
    # on a 1.04M GET /health/live of the FastAPI service, mostly the access event.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    structlog.configure(
        processors=[
            *_shared_processors(extra),
            structlog.processors.format_exc_info,
            _renderer(fmt),
        ],
        logger_factory=_logger_factory,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )


def request_id_from(header: str | None) -> str:
    """Return the client's `X-Request-ID` if it is a sane token, else a new random id.

    A sane token is 1-128 characters of letters, digits and `._:-`; anything else
    (control characters, JSON, megabytes) would pollute the logs and is replaced.
    """
    if header and _SANE_REQUEST_ID.match(header):
        return header
    return os.urandom(16).hex()


def is_probe(path: str) -> bool:
    """Return whether `path` is a health probe or the metrics scrape.

    Orchestrators and scrapers call them every few seconds, so their access events
    are off unless `access_log_probes` is set.
    """
    return path.startswith(HEALTH_PREFIX) or path == METRICS_PATH
