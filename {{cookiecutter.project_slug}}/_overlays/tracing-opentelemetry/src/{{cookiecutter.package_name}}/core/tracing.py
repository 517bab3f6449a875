"""OpenTelemetry traces: a SERVER span per request, MongoDB commands as CLIENT spans under it.

Off unless an OTLP endpoint is configured: with neither `OTEL_EXPORTER_OTLP_ENDPOINT`
nor `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set (or with `OTEL_SDK_DISABLED=true`), nothing
is instrumented, no span is made and log lines carry no trace ids. With one set:

- `start()` (gunicorn.conf.py, once per worker after the fork: gRPC exporters do not
  survive a fork, so spans go out over OTLP/HTTP) sets the process's tracer provider,
  whose `BatchSpanProcessor` exports from a background thread: an export that fails or
  hangs is logged and retried there, never in a request (at worst, spans beyond the
  queue's `OTEL_BSP_MAX_QUEUE_SIZE` are dropped). A graceful shutdown (SIGTERM) loses
  no finished span: `flush()` at the end of the FastAPI app's lifespan, `stop()` in
  gunicorn's `worker_exit` (Flask's gevent workers).
- `instrument_mongo()` registers the pymongo command listener, which traces
  `MongoClient`, `AsyncMongoClient` and Motor alike, without the statements (they hold
  data); it must run before the client is created (pymongo reads its listeners then).
- `instrument_http(app)` (with `http_tracing.py`, per framework) traces each request but the
  health probes and `/metrics`: the span is named by the route template
  (`GET /api/v1/items/{item_id}`, never the raw path), continues a caller's W3C
  `traceparent`/`tracestate`, holds the request id (`http.response.header.x_request_id`,
  as OpenTelemetry records a captured header) and is an error on a 5xx answer.
- `log_processors()` adds `trace_id` and `span_id` (32 and 16 hex digits, as trace
  viewers show them) to every log line written while a span is current.

The standard variables configure the rest (OpenTelemetry SDK environment variables
specification): `OTEL_SERVICE_NAME` (default: "{{ cookiecutter.project_slug }}"),
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`,
`OTEL_EXPORTER_OTLP_*` (headers, timeout, compression), `OTEL_BSP_*` (batching).
See docs/operations.md.
"""

import os
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes
from structlog.types import EventDict, Processor

from .http_tracing import App, trace_requests

__all__ = [
    "RequestRooted",
    "add_trace_ids",
    "enabled",
    "exporting_provider",
    "flush",
    "instrument_http",
    "instrument_mongo",
    "log_processors",
    "make_provider",
    "resource",
    "start",
    "stop",
]

DEFAULT_SERVICE_NAME = "{{ cookiecutter.project_slug }}"
# Either names where spans go (the second only for traces); the SDK reads them itself.
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Return whether traces are exported: an OTLP endpoint is set and the SDK not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def resource() -> Resource:
    """Return the service's resource: the `OTEL_*` variables', the project slug as default name.

    `Resource.create` reads `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`; without a
    name it would say "unknown_service:python".
    """
    detected = Resource.create()
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        return detected.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return detected


class RequestRooted(Sampler):
    """Sample as `configured` says, but start no trace at a MongoDB command.

    A command outside any request (the start-up checks, a readiness ping) would be a
    one-span trace of its own; commands inside a request are sampled with it.
    """

    def __init__(self, configured: Sampler) -> None:
        """Defer every other decision to `configured`."""
        self.configured = configured

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """Drop a CLIENT span without a parent; ask `configured` about every other span."""
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self.configured.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        """Name the sampler and the one it defers to."""
        return "RequestRooted{" + self.configured.get_description() + "}"


def make_provider() -> TracerProvider:
    """Return a tracer provider for this service, with no span processor yet.

    Its resource is `resource()`; its sampler `OTEL_TRACES_SAMPLER`'s (default:
    parent-based, always on) inside `RequestRooted`.
    """
    provider = TracerProvider(resource=resource())
    # The provider reads OTEL_TRACES_SAMPLER[_ARG] itself; its public `sampler` is what
    # the tracers it makes use, so it is wrapped before any tracer is made.
    provider.sampler = RequestRooted(provider.sampler)
    return provider


def exporting_provider() -> TracerProvider:
    """Return `make_provider()` exporting its spans in batches over OTLP/HTTP.

    The exporter reads `OTEL_EXPORTER_OTLP_*` (endpoint, headers, timeout), the batch
    processor `OTEL_BSP_*`. Ending a span only queues it: an export runs in the
    processor's thread, so a collector that is down, slow or refusing costs a request
    nothing (its failure is logged there; a span that finds the queue full is dropped).
    """
    # Imported here: the exporter imports `requests` (and with it `ssl`), which the
    # gunicorn master must not import before a gevent worker patches it (gunicorn.conf.py).
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = make_provider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def start() -> TracerProvider | None:
    """Make this process export its spans (`exporting_provider`); return the provider, or
    None when tracing is off.

    Call it once per process, after any fork and (under gevent) after the standard
    library is patched: the exporter's HTTP client and the batch thread must belong to
    the process and loop that use them.
    """
    if not enabled():
        return None
    provider = exporting_provider()
    trace.set_tracer_provider(provider)
    return provider


def flush() -> None:
    """Export every finished span still queued now (if a provider was set); keep tracing.

    The FastAPI app's lifespan calls it as it shuts down: a uvicorn worker then ends by
    re-raising SIGTERM, so gunicorn's `worker_exit` (`stop`) never runs there. The
    exporter's own timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s) bounds the wait.
    """
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()


def stop() -> None:
    """Export every finished span still queued, then shut the provider down (if one was set).

    The exporter's own timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s) bounds the wait.
    """
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def instrument_mongo(tracer_provider: trace.TracerProvider | None = None) -> None:
    """Trace MongoDB commands as CLIENT spans (names and targets, never the statements).

    Does nothing when tracing is off, unless a `tracer_provider` is given (tests).
    Call it before the MongoDB client is created: pymongo copies its global listeners
    into each client as it is made. Without a provider the spans go to the one `start()`
    sets, whenever it is set.
    """
    if tracer_provider is None and not enabled():
        return
    # Imported here: it imports pymongo (see `start`).
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    instrumentor = PymongoInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=tracer_provider, capture_statement=False)


def instrument_http(app: App, tracer_provider: trace.TracerProvider | None = None) -> None:
    """Trace `app`'s requests (`http_tracing.trace_requests`); call it before it serves.

    Does nothing when tracing is off, unless a `tracer_provider` is given (tests).
    """
    if tracer_provider is None and not enabled():
        return
    trace_requests(app, tracer_provider)


def add_trace_ids(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """Add the current span's `trace_id` and `span_id` (lower-case hex) to a log event.

    Also `trace_sampled`: whether the trace is recorded (and so can be found by its id).
    Outside a span the event is left as it is.
    """
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = trace.format_trace_id(context.trace_id)
        event_dict["span_id"] = trace.format_span_id(context.span_id)
        event_dict["trace_sampled"] = context.trace_flags.sampled
    return event_dict


def log_processors() -> list[Processor]:
    """Return the structlog processors tracing adds to every log line: none when it is off.

    Off, no span is ever current, and the lookup would still cost each line about
    1% of a request (bench/: `G@tracing-off`). The app factory asks before it configures
    logging; structlog keeps the processors a logger had when first used, so that
    must come before any request is logged (it does: `create_app` configures first).
    """
    return [add_trace_ids] if enabled() else []
