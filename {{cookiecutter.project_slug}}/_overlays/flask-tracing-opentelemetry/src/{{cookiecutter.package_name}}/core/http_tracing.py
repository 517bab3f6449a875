"""Trace the Flask app's requests: OpenTelemetry's WSGI middleware, outermost.

The WSGI middleware (what OpenTelemetry's Flask instrumentation is built on) wraps
`RequestContext`, so the span is current for the whole request, its access event
included; the Flask instrumentation's span would begin and end inside Flask's own
request handling, after the request id is bound and before the access event.
"""

from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.trace import Span, TracerProvider

from .logs import is_probe
from .metrics import UNMATCHED_ROUTE
from .middleware import route_template

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The request id, as OpenTelemetry's instrumentations record a captured response header
# (the FastAPI variant's does so itself).
REQUEST_ID_ATTRIBUTE = "http.response.header.x_request_id"

App = Flask


def name_span(
    span: Span, environ: "WSGIEnvironment", status: str, headers: list[tuple[str, str]]
) -> None:
    """Name the request's span by its route template (`GET /api/v1/items/{item_id}`).

    The WSGI middleware names it by the raw path (`GET /api/v1/items/6630...`), which
    makes one name per item; a path no route serves gets the method alone, as in
    FastAPI. Also records the route (`http.route`) and the request id. Runs when the
    app starts its response, while the matched route is known (`route_template`).
    """
    if not span.is_recording():
        return
    method, route = environ["REQUEST_METHOD"], route_template(environ)
    if route == UNMATCHED_ROUTE:
        span.update_name(method)
    else:
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    request_ids = tuple(value for name, value in headers if name.lower() == "x-request-id")
    if request_ids:
        span.set_attribute(REQUEST_ID_ATTRIBUTE, request_ids)


class TracedApp:
    """WSGI middleware: trace every request but the health probes and `/metrics`.

    Those are served with instrumentation suppressed: the readiness probe pings
    MongoDB, and each ping would otherwise be a trace of its own.
    """

    def __init__(
        self, wsgi_app: "WSGIApplication", tracer_provider: TracerProvider | None = None
    ) -> None:
        """Wrap `wsgi_app`; spans go to `tracer_provider` (default: the process's)."""
        self.untraced = wsgi_app
        self.traced = OpenTelemetryMiddleware(
            wsgi_app, response_hook=name_span, tracer_provider=tracer_provider
        )

    def __call__(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        """Serve one request, in a SERVER span unless it is a probe or the scrape."""
        if is_probe(environ.get("PATH_INFO", "")):
            with suppress_instrumentation():
                return self.untraced(environ, start_response)
        return self.traced(environ, start_response)  # type: ignore[no-any-return]


def trace_requests(app: App, tracer_provider: TracerProvider | None = None) -> None:
    """Make `app` trace each request as a SERVER span named by its route template.

    Call it last in the app factory: the span must enclose every other WSGI middleware
    (`middleware.init_app`). Without a `tracer_provider`, the spans go to the process's
    (`tracing.start`).
    """
    app.wsgi_app = TracedApp(app.wsgi_app, tracer_provider)  # type: ignore[method-assign]
