"""Request ids and Prometheus metrics for the aiohttp services.

``HttpMetrics.middleware`` accepts a sane ``X-Request-ID`` or makes one, binds
it for logs and outgoing gRPC calls (``bookings_common.grpc.create_channel``),
echoes it on every response, logs one line per request, and counts and times
requests by route template and status in the instance's own registry, so
several apps in one process (tests) never share counters.
"""

from __future__ import annotations

import time
from typing import Any, Final

import structlog
from aiohttp import web
from bookings_common.logging import REQUEST_ID_KEY, get_logger, sane_request_id
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

REQUEST_ID_HEADER: Final = "X-Request-ID"
# Latency buckets in seconds: from a cache-hot read to a deadline-bound call.
log = get_logger("bookings_web.http")
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def route_name(request: web.Request) -> str:
    """The matched route's template (``/bookings/{id}``), or ``unmatched`` for 404s."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


class HttpMetrics:
    """``http_requests_total{method,route,status}``, ``http_request_duration_seconds``
    and ``http_requests_in_progress`` (both ``{method,route}``) in ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, in seconds.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being answered now.",
            ("method", "route"),
            registry=self.registry,
        )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """The outermost middleware: bind ``requestId`` for the request's duration, set
        ``X-Request-ID`` on the response, log one ``http.request`` line (method, path,
        status, duration in ms) and record one count and one latency sample, errors
        included. One middleware, not two: each costs every open WebSocket or SSE
        connection a frame for as long as it lasts."""
        request_id = sane_request_id(request.headers.get(REQUEST_ID_HEADER))
        bound = structlog.contextvars.bind_contextvars(**{REQUEST_ID_KEY: request_id})
        started = time.perf_counter()
        status = 500
        route = route_name(request)
        in_progress = self.in_progress.labels(request.method, route)
        in_progress.inc()
        try:
            response: web.StreamResponse = await handler(request)
            status = response.status
        except web.HTTPException as exc:  # only when no problem middleware sits inside
            status = exc.status
            exc.headers[REQUEST_ID_HEADER] = request_id
            raise
        finally:
            elapsed = time.perf_counter() - started
            in_progress.dec()
            self.requests.labels(request.method, route, str(status)).inc()
            self.latency.labels(request.method, route).observe(elapsed)
            log.info(
                "http.request",
                method=request.method,
                path=request.path,
                status=status,
                durationMs=round(elapsed * 1000, 2),
            )
            structlog.contextvars.reset_contextvars(**bound)
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response

    async def handler(self, _request: web.Request) -> web.Response:
        """``GET /metrics`` in the Prometheus text format."""
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
