"""Distributed tracing with OpenTelemetry: one booking's path is one trace.

Off by default: until ``configure_tracing`` installs a tracer provider, every
helper here returns at once and nothing is added to requests or messages. It
reads the standard OpenTelemetry environment variables:

- ``OTEL_TRACES_EXPORTER``: ``none`` (default), ``otlp`` (OTLP over HTTP/protobuf
  to ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
  default ``http://localhost:4318``) or ``console`` (spans as JSON on stdout);
- ``OTEL_SERVICE_NAME`` (default: the process's own name), ``OTEL_TRACES_SAMPLER``
  and the SDK's other variables.

Context travels in the W3C Trace Context format (``traceparent``, W3C
Recommendation "Trace Context", 2021) through every hop we own:

- HTTP into the gateway and the notifier: the ``traceparent`` request header
  (``bookings_web.observability.HttpMetrics.middleware``);
- gateway, notifier and workers to booking-core: gRPC metadata (``inject``, from
  ``bookings_common.grpc.create_channel``), read by booking-core's call guard;
- booking-core to the notifier: each event row stores the ``traceparent`` of the
  call that wrote it, and the Redis message carries it (``EventEnvelope``);
- dramatiq messages: ``bookings_common.dramatiq_tracing.TracingMiddleware`` puts
  it in the message options.

The ``requestId`` stays the key of every log line; spans carry it as the
attribute ``request.id``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

TRACEPARENT: Final = "traceparent"
MESSAGE_OPTION: Final = "trace_context"
_enabled = False


def enabled() -> bool:
    """True once a tracer provider is installed (``configure_tracing``)."""
    return _enabled


def configure_tracing(service_name: str) -> bool:
    """Install the SDK's tracer provider for ``OTEL_TRACES_EXPORTER``; return whether
    tracing is on. Call once at process start; ``none`` (the default) leaves it off."""
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if exporter_name in ("", "none"):
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    exporter: SpanExporter
    if exporter_name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    elif exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:
        raise SystemExit(  # one line, as for every other bad setting
            "configuration error: "
            f'"OTEL_TRACES_EXPORTER" must be none, otlp or console, not {exporter_name!r}'
        )
    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    use_provider(provider)
    return True


def use_provider(provider: trace.TracerProvider) -> None:
    """Trace through ``provider`` (tests pass one with an in-memory exporter)."""
    global _enabled
    trace.set_tracer_provider(provider)
    _enabled = True


def stop_tracing() -> None:
    """Stop adding spans and context (the provider stays installed)."""
    global _enabled
    _enabled = False


def resume_tracing() -> None:
    """Undo ``stop_tracing``."""
    global _enabled
    _enabled = True


def tracer(name: str) -> Tracer:
    """The tracer of module ``name``."""
    return trace.get_tracer(name)


def inject(carrier: MutableMapping[str, str]) -> None:
    """Add the current context's ``traceparent`` to ``carrier`` (HTTP headers, gRPC
    metadata, message options) when tracing is on and a span is current."""
    if _enabled:
        propagate.inject(carrier)


def current_traceparent() -> str | None:
    """The current span's ``traceparent``, or None (tracing off, no span)."""
    if not _enabled:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(TRACEPARENT)


def extract(carrier: Mapping[str, Any]) -> otel_context.Context | None:
    """The context ``carrier`` (headers, metadata, options) carries, or None."""
    if not _enabled:
        return None
    value = carrier.get(TRACEPARENT)
    if not isinstance(value, str):
        return None
    return propagate.extract({TRACEPARENT: value})


@contextlib.contextmanager
def span(
    name: str,
    *,
    parent: str | Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span | None]:
    """A span named ``name`` around the block, current inside it; its parent is the
    current span, or the ``traceparent`` given (a string or a carrier). Yields None,
    and does nothing, while tracing is off."""
    if not _enabled:
        yield None
        return
    carrier = {TRACEPARENT: parent} if isinstance(parent, str) else parent
    context = extract(carrier) if carrier is not None else None
    with tracer("bookings").start_as_current_span(
        name, context=context, kind=kind, attributes=dict(attributes or {})
    ) as current:
        yield current


def start_span(
    name: str, carrier: Mapping[str, Any], *, kind: SpanKind, attributes: Mapping[str, Any]
) -> tuple[Span, object] | None:
    """Start a span under ``carrier``'s context and make it current; returns it and the
    token to pass to ``end_span``, or None while tracing is off. For callback pairs
    (before/after) where a ``with`` block cannot span both."""
    if not _enabled:
        return None
    started = tracer("bookings").start_span(
        name, context=extract(carrier), kind=kind, attributes=dict(attributes)
    )
    token = otel_context.attach(trace.set_span_in_context(started))
    return started, token


def end_span(started: tuple[Span, object] | None, *, error: str | None = None) -> None:
    """End what ``start_span`` started (``error`` marks it failed) and restore the context."""
    if started is None:
        return
    current, token = started
    if error is not None:
        current.set_status(Status(StatusCode.ERROR, error))
    current.end()
    otel_context.detach(token)  # type: ignore[arg-type]
