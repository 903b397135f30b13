"""dramatiq middleware carrying the trace context (``bookings_common.tracing``) in
each message's options. Only the processes that run dramatiq import this module."""

from __future__ import annotations

from typing import Any

import dramatiq
from opentelemetry.trace import Span, SpanKind

from . import tracing
from .tracing import MESSAGE_OPTION, TRACEPARENT, end_span, start_span


class TracingMiddleware(dramatiq.Middleware):
    """dramatiq middleware: a message enqueued while a span is current carries its
    ``traceparent`` (option ``trace_context``); processing it runs in a CONSUMER span
    of that trace. A message enqueued with the option already set keeps it."""

    def __init__(self) -> None:
        self._running: dict[str, tuple[Span, object] | None] = {}

    def before_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
        if tracing.enabled() and MESSAGE_OPTION not in message.options:
            value = tracing.current_traceparent()
            if value is not None:
                message.options[MESSAGE_OPTION] = value

    def before_process_message(self, broker: Any, message: Any) -> None:
        value = message.options.get(MESSAGE_OPTION)
        if not tracing.enabled() or not isinstance(value, str):
            return
        self._running[message.message_id] = start_span(
            f"{message.queue_name} process",
            {TRACEPARENT: value},
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "dramatiq",
                "messaging.destination.name": message.queue_name,
                "messaging.message.id": message.message_id,
                "code.function": message.actor_name,
            },
        )

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        started = self._running.pop(message.message_id, None)
        end_span(started, error=None if exception is None else type(exception).__name__)

    def after_skip_message(self, broker: Any, message: Any) -> None:
        end_span(self._running.pop(message.message_id, None))
