"""Prometheus metrics of the HTTP server, identical in both frameworks.

Names and labels (one dashboard serves either variant):
- `http_requests_total{method, route, status}`: counter.
- `http_request_duration_seconds{method, route, status}`: histogram (seconds).
- `unreadable_documents_total{resource}`: counter of stored documents that failed the
  read model when a request met them (each is also logged; see `errors.UnreadableDocumentError`).
Every label takes values from a fixed set, whatever clients send, so no request can
create new series: `route` is a route template (`/api/v1/orders/{order_id}`, `/docs`)
or `<unmatched>` for paths no route serves; `method` is one of `KNOWN_METHODS` or
`other`; `status` is an HTTP status code. Under gunicorn, `PROMETHEUS_MULTIPROC_DIR`
switches prometheus_client to multiprocess mode (see gunicorn.conf.py).
"""

import contextlib
import glob
import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

UNMATCHED_ROUTE = "<unmatched>"
METRICS_PATH = "/metrics"
# The methods of RFC 9110 section 9 and PATCH (RFC 5789); any other token a client
# sends is counted as `OTHER_METHOD`.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
_LABELS = ("method", "route", "status")


class HttpMetrics:
    """The request counter, latency histogram and unreadable-document counter, in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Create the metrics in `registry` (a fresh one by default, as tests want)."""
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "http_requests_total", "HTTP requests served.", _LABELS, registry=self.registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to serve an HTTP request, in seconds.",
            _LABELS,
            registry=self.registry,
        )
        self.unreadable_documents = Counter(
            "unreadable_documents_total",
            "Stored documents that failed the read model when a request met them.",
            ("resource",),
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and record its duration in seconds.

        Args:
            method: The request method as sent; one outside `KNOWN_METHODS` counts as
                `other`.
            route: The matched route template, or `UNMATCHED_ROUTE`.
            status: The response status code.
            seconds: How long the request took.
        """
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            # `labels()` looks its child up under a lock on every call; the label sets
            # are few (routes x methods x statuses), so keep the children at hand.
            labels = (method, route, str(status))
            children = (self.requests.labels(*labels), self.duration.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_unreadable(self, resource: str, documents: int) -> None:
        """Count `documents` stored documents of `resource` that failed the read model."""
        self.unreadable_documents.labels(resource).inc(documents)

    def render(self) -> tuple[bytes, str]:
        """Return the exposition (text format) and its content type.

        In multiprocess mode it aggregates the files of every worker, live and dead.
        """
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            registry = CollectorRegistry()
            _WorkerFilesCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _WorkerFilesCollector(MultiProcessCollector):
    """Merge every worker's metric files, skipping files still being created.

    prometheus_client creates a worker's `.db` file before sizing it, so a scrape that
    lands in that instant fails on a 0-byte file and loses every metric
    (prometheus/client_python#1199, open in 0.26). Such a file holds nothing yet.
    """

    def collect(self) -> Iterable[Metric]:
        """Return the merged metrics of all non-empty worker files."""
        files = []
        for path in glob.glob(os.path.join(self._path, "*.db")):
            with contextlib.suppress(OSError):  # a dead worker's gauge file may vanish
                if os.path.getsize(path) > 0:
                    files.append(path)
        return self.merge(files, accumulate=True)  # type: ignore[no-any-return, no-untyped-call]
