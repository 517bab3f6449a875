"""A small OTLP/HTTP trace receiver for tests: what a collector would see, decoded.

It listens on 127.0.0.1 (a free port), accepts `POST /v1/traces` with a protobuf
`ExportTraceServiceRequest` (gzip or deflate encoded, or not), as the OTLP/HTTP
specification describes, and keeps every span it receives. No collector needed.
"""

import gzip
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

TRACES_PATH = "/v1/traces"
# OTLP's Span.SpanKind values.
SERVER, CLIENT = 2, 3
STATUS_ERROR = 2


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as received: ids in lower-case hex, attributes as plain values."""

    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status_code: int


def plain(value: AnyValue) -> Any:
    """Return an OTLP attribute value as a Python value (arrays as tuples)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(plain(item) for item in value.array_value.values)
    return getattr(value, kind) if kind else None


def decode(body: bytes, encoding: str) -> list[ReceivedSpan]:
    """Return the spans of one export request's body (`Content-Encoding` `encoding`)."""
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {item.key: plain(item.value) for item in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        service=str(resource.get("service.name", "")),
                        name=span.name,
                        kind=span.kind,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes={item.key: plain(item.value) for item in span.attributes},
                        status_code=span.status.code,
                    )
                )
    return spans


class Receiver:
    """Receive OTLP/HTTP trace exports on 127.0.0.1 in a background thread until `stop()`."""

    def __init__(self) -> None:
        """Start listening on a free port."""
        self.spans: list[ReceivedSpan] = []
        self.exports = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != TRACES_PATH:
                    self.send_error(404)
                    return
                spans = decode(body, self.headers.get("Content-Encoding", ""))
                with receiver.lock:
                    receiver.spans.extend(spans)
                    receiver.exports += 1
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        """The base URL to give as `OTEL_EXPORTER_OTLP_ENDPOINT`."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def received(self) -> list[ReceivedSpan]:
        """Return every span received so far."""
        with self.lock:
            return list(self.spans)

    def stop(self) -> None:
        """Stop listening."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
