"""Request ids and Prometheus metrics for the aiohttp services.

``HttpMetrics.middleware`` accepts a sane ``X-Request-ID`` or makes one, binds
it for logs and outgoing gRPC calls (``bookings_common.grpc.create_channel``),
echoes it on every response, logs one line per request, and counts and times
requests by route template and status in the instance's own registry, so
several apps in one process (tests) never share counters.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from bookings_common import tracing
from bookings_common.logging import REQUEST_ID_KEY, bind_request_id, get_logger, sane_request_id
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from .problems import problem_for

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

    def __init__(
        self, registry: CollectorRegistry | None = None, *, problems: bool = False
    ) -> None:
        """With ``problems``, the middleware also renders every error as problem+json
        (``problems.problem_for``), in place of a ``problem_middleware`` inside it."""
        self.registry = registry or CollectorRegistry()
        self._problems = problems
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
        status, duration in ms), record one count and one latency sample, errors
        included, and with tracing on (``bookings_common.tracing``) one span. One
        middleware, not several: each costs every open WebSocket or SSE connection a
        frame for as long as it lasts."""
        request_id = sane_request_id(request.headers.get(REQUEST_ID_HEADER))
        # Bound for the request, then unbound (not reset to a saved token: a token kept
        # for the whole of a WebSocket or SSE connection costs it memory, and no
        # request id is bound outside a request).
        bind_request_id(request_id)
        started = time.perf_counter()
        status = 500
        route = route_name(request)
        in_progress = self.in_progress.labels(request.method, route)
        in_progress.inc()
        # With tracing on: a SERVER span under the caller's traceparent, current for
        # the handler, so its calls to booking-core continue the trace.
        span = (
            tracing.start_span(
                f"{request.method} {route}",
                request.headers,
                kind=SpanKind.SERVER,
                attributes={
                    "http.request.method": request.method,
                    "http.route": route,
                    "url.path": request.path,
                    "request.id": request_id,
                },
            )
            if tracing.enabled()
            else None
        )
        try:
            try:
                response: web.StreamResponse = await handler(request)
            except Exception as exc:
                if not self._problems:
                    raise
                response = problem_for(request, exc)
            status = response.status
        except web.HTTPException as exc:  # no problem rendering inside, or a redirect
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
            structlog.contextvars.unbind_contextvars(REQUEST_ID_KEY)
            if span is not None:
                span[0].set_attribute("http.response.status_code", status)
                tracing.end_span(span, error=str(status) if status >= 500 else None)
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response

    def log_malformed_requests(self, lines_per_second: float = 10.0) -> None:
        """Log requests aiohttp's parser refuses compactly (see ``MalformedRequestLog``),
        counting them in ``http_malformed_requests_total{reason}`` of this registry."""
        counter = Counter(
            "http_malformed_requests",
            "Requests refused before routing (bad request line, Host, headers, framing).",
            ("reason",),
            registry=self.registry,
        )
        MalformedRequestLog.install(counter, lines_per_second)

    async def handler(self, _request: web.Request) -> web.Response:
        """``GET /metrics`` in the Prometheus text format."""
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )


class MalformedRequestLog(logging.Filter):
    """aiohttp logs each request its HTTP parser refuses (a bad request line, a
    missing Host, bad headers, a line over 8190 bytes, bad chunking: it answers 400)
    at ERROR with a traceback, on the ``aiohttp.server`` logger. This filter turns
    each into one compact INFO line, ``http.malformed_request`` with ``status``,
    ``reason`` (the exception class) and ``detail`` (at most 200 characters), at
    most ``lines_per_second`` a second; lines it drops are only counted, and the
    next line it lets through says how many (``suppressed``). Every one counts in
    the Prometheus counter. 5xx and other errors pass untouched, traceback included.
    """

    _installed: MalformedRequestLog | None = None

    def __init__(self, counter: Counter, lines_per_second: float) -> None:
        super().__init__()
        self.counter = counter
        self.lines_per_second = lines_per_second
        self._window = 0
        self._lines = 0
        self._suppressed = 0

    @classmethod
    def install(cls, counter: Counter, lines_per_second: float) -> None:
        """Filter ``aiohttp.server`` (one filter per process: the newest app's counter)."""
        logger = logging.getLogger("aiohttp.server")
        if cls._installed is not None:
            logger.removeFilter(cls._installed)
        cls._installed = cls(counter, lines_per_second)
        logger.addFilter(cls._installed)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError) or not 400 <= error.code < 500:
            return True
        reason = type(error).__name__
        self.counter.labels(reason).inc()
        window = int(time.monotonic())
        if window != self._window:
            self._window, self._lines = window, 0
        if self._lines >= self.lines_per_second:
            self._suppressed += 1
            return False
        self._lines += 1
        # The fields ride as the record's extras (structlog's ExtraAdder renders them).
        record.msg, record.args = "http.malformed_request", ()
        record.status, record.reason = error.code, reason
        record.detail = str(error.message)[:200]
        if self._suppressed:
            record.suppressed, self._suppressed = self._suppressed, 0
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True
