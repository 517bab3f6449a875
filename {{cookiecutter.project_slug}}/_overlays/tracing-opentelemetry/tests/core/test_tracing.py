"""Traces: the spans a request makes, their names and parents, and the log lines' trace ids.

Written once for both frameworks (`tests.http.Http`). The app is built as in production
(`create_app` with an OTLP endpoint set, so it instruments itself), and the process's
tracer provider, set once here, keeps the finished spans in memory
(`InMemorySpanExporter` with a `SimpleSpanProcessor`: exported as each span ends).
Nothing is sent anywhere: `tracing.start()`, which would set the exporting provider, is
gunicorn's to call (tests/test_tracing_served.py serves the app with it).
"""

import functools
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from {{ cookiecutter.package_name }}.core import middleware, tracing
from {{ cookiecutter.package_name }}.core.http_tracing import App

from tests.http import Http, Reply
from tests.shapes import SHAPES

SHAPE = SHAPES[0]
CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01"


@functools.cache
def memory_exporter() -> InMemorySpanExporter:
    """Make the process's tracer provider keep finished spans in memory (once: it is global).

    The provider is the service's own (`tracing.make_provider`), exporting to memory.
    """
    exporter = InMemorySpanExporter()
    provider = tracing.make_provider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Turn tracing on (an endpoint set, nothing listening) for the test; yield the spans' store.

    Afterwards the MongoDB listener is switched off again (pymongo keeps it registered).
    """
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    # The request middleware's access logger, as a process's first app would find it:
    # structlog keeps the processors a logger had when first used, and an earlier
    # test's app (tracing off) used this one already.
    monkeypatch.setattr(middleware, "access_log", structlog.get_logger("access"))
    exporter = memory_exporter()
    exporter.clear()
    yield exporter
    PymongoInstrumentor().uninstrument()


@pytest.fixture
def app(spans: InMemorySpanExporter, app: App) -> App:
    """Return the app, made after tracing was turned on (so it instruments itself)."""
    return app


def send(http: Http, method: str, url: str, **options: Any) -> Reply:
    """Send a request and read its whole answer, as a server does before the span ends.

    A WSGI server iterates the answer to its end (the WSGI middleware ends the span
    there); Flask's test client reads it only when asked to.
    """
    response: Reply = getattr(http, method)(url, **options)
    assert response.content is not None
    return response


def finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """Return the spans finished so far, oldest first."""
    return list(exporter.get_finished_spans())


def server_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """Return the SERVER spans finished so far."""
    return [span for span in finished(exporter) if span.kind is SpanKind.SERVER]


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    """Return a span's trace id and span id as the logs write them."""
    context = span.get_span_context()
    assert context is not None
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


def test_tracing_is_off_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert not tracing.enabled()
    assert tracing.log_processors() == []
    assert tracing.start() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces")
    assert tracing.enabled()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing.enabled()


def test_a_collector_that_is_down_costs_a_request_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Spans end at once with the collector unreachable; the failed export is only logged."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    provider = tracing.exporting_provider()
    tracer = provider.get_tracer(__name__)
    started = time.perf_counter()
    for number in range(50):
        with tracer.start_as_current_span(f"request {number}", kind=SpanKind.SERVER):
            pass
    assert time.perf_counter() - started < 0.5
    provider.shutdown()  # the export fails (connection refused): logged, not raised
    assert any("export" in record.getMessage().lower() for record in caplog.records)


def test_the_sampler_is_the_configured_one_inside_request_rooted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.1")
    description = tracing.make_provider().sampler.get_description()
    assert description.startswith("RequestRooted{ParentBased{root:TraceIdRatioBased{0.1}")


def test_service_name_defaults_to_the_project_slug_and_the_variable_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert tracing.resource().attributes["service.name"] == "{{ cookiecutter.project_slug }}"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes,team=a")
    assert tracing.resource().attributes["service.name"] == "from-attributes"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "orders-eu")
    assert tracing.resource().attributes["service.name"] == "orders-eu"
    assert tracing.resource().attributes["team"] == "a"


def test_request_span_is_named_by_its_route_and_continues_the_callers_trace(
    http: Http, spans: InMemorySpanExporter
) -> None:
    created = send(http, "post", SHAPE.resource.path, json=SHAPE.body()).json()
    spans.clear()
    response = send(
        http, "get", f"{SHAPE.resource.path}/{created['id']}", headers={"traceparent": TRACEPARENT}
    )
    assert response.status_code == 200
    [server] = server_spans(spans)
    assert server.name == f"GET {SHAPE.resource.one_path}"
    assert server.attributes is not None
    assert server.attributes["http.route"] == SHAPE.resource.one_path
    assert hex_ids(server)[0] == CALLER_TRACE_ID
    assert server.parent is not None
    assert server.parent.is_remote
    assert trace.format_span_id(server.parent.span_id) == CALLER_SPAN_ID
    assert server.status.status_code is StatusCode.UNSET


def test_mongodb_commands_are_client_spans_under_the_request_without_statements(
    http: Http, spans: InMemorySpanExporter
) -> None:
    body = SHAPE.body()
    assert send(http, "post", SHAPE.resource.path, json=body).status_code == 201
    [server] = server_spans(spans)
    clients = [span for span in finished(spans) if span.kind is SpanKind.CLIENT]
    assert "insert" in {client.name.rsplit(".", 1)[-1] for client in clients}
    for client in clients:
        assert client.parent is not None
        assert client.parent.span_id == server.context.span_id
        assert client.context.trace_id == server.context.trace_id
        attributes = dict(client.attributes or {})
        assert attributes["db.system"] == "mongodb"
        # The command's name only: none of the values the request stored.
        assert attributes["db.statement"] == client.name.rsplit(".", 1)[-1]
        assert not [value for value in body.values() if str(value) in str(attributes.values())]


def test_no_trace_begins_at_a_mongodb_command_outside_a_request(
    http: Http, spans: InMemorySpanExporter
) -> None:
    """The app's start-up checks (made before this test's requests) left no span."""
    assert send(http, "get", SHAPE.resource.path).status_code == 200
    assert [span.kind for span in finished(spans) if span.parent is None] == [SpanKind.SERVER]


def test_probes_and_metrics_make_no_spans(http: Http, spans: InMemorySpanExporter) -> None:
    for path in ("/health/live", "/health/ready", "/metrics"):
        assert send(http, "get", path).status_code == 200, path
    assert finished(spans) == []


def test_request_id_is_on_the_span(http: Http, spans: InMemorySpanExporter) -> None:
    send(http, "get", SHAPE.resource.path, headers={"X-Request-ID": "req-42"})
    [server] = server_spans(spans)
    assert server.attributes is not None
    assert tuple(server.attributes["http.response.header.x_request_id"]) == ("req-42",)  # type: ignore[arg-type]


def test_a_5xx_answer_marks_the_span_as_an_error_a_4xx_does_not(
    app: App, http: Http, spans: InMemorySpanExporter
) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    assert send(http, "get", "/boom").status_code == 500
    assert send(http, "get", f"{SHAPE.resource.path}/0123456789abcdef01234567").status_code == 404
    error, missing = server_spans(spans)
    assert (error.name, error.status.status_code) == ("GET /boom", StatusCode.ERROR)
    assert missing.status.status_code is StatusCode.UNSET


def test_log_lines_of_a_traced_request_carry_its_trace_and_span_ids(
    http: Http, spans: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    send(
        http,
        "get",
        SHAPE.resource.path,
        headers={"traceparent": TRACEPARENT, "X-Request-ID": "req-7"},
    )
    [server] = server_spans(spans)
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    [access] = [line for line in lines if line.get("event") == "request"]
    assert access["request_id"] == "req-7"
    assert (access["trace_id"], access["span_id"]) == hex_ids(server)
    assert access["trace_id"] == CALLER_TRACE_ID
    assert len(access["span_id"]) == 16
    assert access["trace_sampled"] is True
