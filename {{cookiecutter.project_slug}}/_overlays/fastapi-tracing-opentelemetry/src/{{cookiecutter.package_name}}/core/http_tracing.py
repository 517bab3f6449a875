"""Trace the FastAPI app's requests: OpenTelemetry's FastAPI instrumentation, outermost.

The instrumentation wraps the whole middleware stack, so the span is current in
`RequestContextMiddleware` too: its access event carries the trace ids.
"""

import re

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import TracerProvider
from starlette.types import ASGIApp, Receive, Scope, Send

from .logs import HEALTH_PREFIX, is_probe
from .metrics import METRICS_PATH

# No spans for the probes and the scrape: the instrumentation matches these regular
# expressions against the request's full URL (`http://host:port/path`).
EXCLUDED_URLS = ",".join(
    [
        rf"^[a-z]+://[^/]*{re.escape(HEALTH_PREFIX)}",
        rf"^[a-z]+://[^/]*{re.escape(METRICS_PATH)}$",
    ]
)
# The request id, recorded as a captured response header
# (`http.response.header.x_request_id`).
CAPTURED_RESPONSE_HEADERS = ["x-request-id"]

App = FastAPI


class UntracedProbes:
    """ASGI middleware: no spans at all while a probe or the scrape is served.

    The instrumentation makes no span for them (`EXCLUDED_URLS`), but the readiness
    probe pings MongoDB: without this, each ping would be a trace of its own.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap `app`."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one event; a probe's with instrumentation suppressed."""
        if scope["type"] == "http" and is_probe(scope["path"]):
            with suppress_instrumentation():
                await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def trace_requests(app: App, tracer_provider: TracerProvider | None = None) -> None:
    """Make `app` trace each request as a SERVER span named by its route template.

    Call it before the app serves its first request. No spans for the ASGI
    `receive`/`send` events: one span per request. Without a `tracer_provider`, the
    spans go to the process's (`tracing.start`).
    """
    app.add_middleware(UntracedProbes)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        excluded_urls=EXCLUDED_URLS,
        exclude_spans=["receive", "send"],
        http_capture_headers_server_response=CAPTURED_RESPONSE_HEADERS,
    )
