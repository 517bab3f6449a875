"""Trace the FastAPI app's requests: OpenTelemetry's FastAPI instrumentation, outermost.

The instrumentation wraps the whole middleware stack, so the span is current in
`RequestContextMiddleware` too: its access event carries the trace ids.
"""

import re

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.trace import TracerProvider

from .logs import HEALTH_PREFIX
from .metrics import METRICS_PATH

# No spans for the probes and the scrape: the instrumentation matches these regular
# expressions against the request's full URL (`http://host:port/path`).
EXCLUDED_URLS = ",".join(
    [
        rf"^[a-z]+://[^/]*{re.escape(HEALTH_PREFIX)}",
        rf"^[a-z]+://[^/]*{re.escape(METRICS_PATH)}$",
    ]
)
# The request id, as the convention for captured headers records it
# (`http.response.header.x-request-id`).
CAPTURED_RESPONSE_HEADERS = ["x-request-id"]

App = FastAPI


def trace_requests(app: App, tracer_provider: TracerProvider | None = None) -> None:
    """Make `app` trace each request as a SERVER span named by its route template.

    Call it before the app serves its first request. No spans for the ASGI
    `receive`/`send` events: one span per request. Without a `tracer_provider`, the
    spans go to the process's (`tracing.start`).
    """
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        excluded_urls=EXCLUDED_URLS,
        exclude_spans=["receive", "send"],
        http_capture_headers_server_response=CAPTURED_RESPONSE_HEADERS,
    )
