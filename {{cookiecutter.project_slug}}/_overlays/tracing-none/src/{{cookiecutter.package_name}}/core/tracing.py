"""Tracing is off: this service was generated with `tracing=none`.

The same calls as the `tracing=opentelemetry` answer's module, each doing nothing, so the
app factory and gunicorn.conf.py read the same either way. To add traces, generate with
`tracing=opentelemetry` (or `cruft update` with that answer): see docs/operations.md.
"""

from structlog.types import Processor


def start() -> None:
    """Do nothing: no tracer provider."""


def flush() -> None:
    """Do nothing: no span to export."""


def stop() -> None:
    """Do nothing: no span to flush."""


def instrument_mongo() -> None:
    """Do nothing: MongoDB commands are not traced."""


def instrument_http(app: object) -> None:
    """Do nothing: requests are not traced."""


def log_processors() -> list[Processor]:
    """Return no processor: log lines carry no trace ids."""
    return []
