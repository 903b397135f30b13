"""One booking's path is one trace: the gateway's request span, booking-core's call
span (through gRPC metadata), the event's publication (the events row and the Redis
message carry the traceparent), the notifier's fan-out and the mail job's dramatiq
message. Everything runs in this process (the gateway and notifier apps, booking-core's
server), so one in-memory exporter sees every span."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import dramatiq
import pytest
from booking_core.bootstrap import serve
from booking_core.settings import Settings as CoreSettings
from bookings_common import tracing
from bookings_common.dramatiq_tracing import TracingMiddleware
from bookings_common.grpc import create_channel, is_serving
from bookings_proto.bookings import v1 as pb
from dramatiq.brokers.stub import StubBroker
from environs import Env
from gateway.app import create_app as create_gateway
from notifier.app import create_app as create_notifier
from notifier.settings import Settings as NotifierSettings
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from .conftest import REDIS_URL, gateway_settings
from .harness import (
    INTERNAL_TOKEN,
    JWT_SECRET,
    SseStream,
    eventually,
    free_port,
    in_future,
    make_token,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    yield exporter
    tracing.stop_tracing()


class Port:
    def __init__(self, port: int) -> None:
        self.port = port


@contextlib.asynccontextmanager
async def core_in_process(database_url: str) -> AsyncIterator[int]:
    port = free_port()
    environment = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "INTERNAL_TOKEN": INTERNAL_TOKEN,
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": str(port),
        "JWT_SECRET": JWT_SECRET,
        "OUTBOX_RELAY_MIN_AGE_SECONDS": "60",  # this process publishes its own events
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        settings = CoreSettings.from_env(Env())
    stop = asyncio.Event()
    server = asyncio.create_task(serve(settings, stop=stop))
    channel = create_channel(f"127.0.0.1:{port}", internal_token=INTERNAL_TOKEN)
    try:

        async def up() -> bool:
            return await is_serving(channel, within_seconds=1)

        await eventually(up, timeout=20)
        yield port
    finally:
        channel.close()
        stop.set()
        await asyncio.wait_for(server, 30)


def by_trace(spans: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.context and s.context.trace_id == trace_id]


async def test_a_booking_is_one_trace_from_the_gateway_to_the_notifier_and_the_mail_job(
    spans: InMemorySpanExporter,
    database_url: str,
    provider: pb.Provider,
    customer: pb.Customer,
    aiohttp_client: Any,
) -> None:
    # The in-process booking-core shares the session's database, and so its
    # provider and customer.
    async with core_in_process(database_url) as core_port:
        settings = gateway_settings(Port(core_port))
        gateway = await aiohttp_client(create_gateway(settings))
        notifier = await aiohttp_client(
            create_notifier(
                NotifierSettings(
                    jwt=settings.jwt,
                    internal_token=INTERNAL_TOKEN,
                    core_grpc_target=f"127.0.0.1:{core_port}",
                    redis_url=REDIS_URL,
                    host="127.0.0.1",
                )
            )
        )
        token = make_token("customer", customer.id)
        async with notifier.get("/events", headers={"Authorization": f"Bearer {token}"}) as sse:
            assert sse.status == 200
            await eventually(lambda: _subscribed(notifier), timeout=10)
            start = in_future(days=40, hours=int(uuid.uuid4().int % 500))
            response = await gateway.post(
                "/bookings",
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "traced-1"},
                json={
                    "providerId": provider.id,
                    "customerId": customer.id,
                    "startTime": start.isoformat(),
                    "endTime": (start + timedelta(minutes=30)).isoformat(),
                },
            )
            assert response.status == 201, await response.text()
            booking_id = (await response.json())["bookingId"]
            stream = SseStream(sse)
            _, _, data = await asyncio.wait_for(stream.next_event(), 10)
            event = json.loads(data)
            assert event["data"]["bookingId"] == booking_id
            assert "traceparent" not in event  # clients never see it

        (root,) = [
            s
            for s in spans.get_finished_spans()
            if s.attributes.get("request.id") == "traced-1"
            and s.kind is SpanKind.SERVER
            and s.name.startswith("POST")
        ]
        trace_id = root.context.trace_id

        async def fanned_out() -> list[ReadableSpan]:
            return [s for s in by_trace(spans, trace_id) if s.name == "notifier fan-out"]

        (fan_out,) = await eventually(fanned_out, timeout=10)
        core_calls = [
            s
            for s in by_trace(spans, trace_id)
            if s.kind is SpanKind.SERVER and s.name.endswith("/CreateBooking")
        ]
        assert len(core_calls) == 1
        (call,) = core_calls
        assert call.parent is not None and call.parent.span_id == root.context.span_id
        assert call.attributes["request.id"] == "traced-1"  # the log key, on the span too
        assert fan_out.parent is not None and fan_out.parent.span_id == call.context.span_id
        assert fan_out.attributes["event.type"] == "booking.created"
        assert fan_out.attributes["notifier.connections"] == 1

        # The mail job for booking.created continues the same trace (its dramatiq
        # message carries the traceparent of the call that wrote the event).
        redis = Redis.from_url(REDIS_URL)
        try:

            async def mail_message() -> dict[str, Any] | None:
                for raw in (await redis.hgetall("dramatiq:mail.msgs")).values():
                    message = json.loads(raw)
                    context = message.get("options", {}).get(tracing.MESSAGE_OPTION, "")
                    if f"{trace_id:032x}" in context:
                        return dict(message)
                return None

            message = await eventually(mail_message, timeout=10)
        finally:
            await redis.aclose()
        assert message["actor_name"] == "send_mail"


async def _subscribed(client: Any) -> bool:
    response = await client.get("/ready")
    return bool(response.status == 200)


def test_a_dramatiq_message_runs_in_a_consumer_span_of_the_enqueuing_trace(
    spans: InMemorySpanExporter,
) -> None:
    broker = StubBroker(middleware=[TracingMiddleware()])
    seen: list[str | None] = []

    @dramatiq.actor(broker=broker, queue_name="traced")
    def remember() -> None:
        seen.append(tracing.current_traceparent())

    worker = dramatiq.Worker(broker, worker_timeout=100)
    worker.start()
    try:
        with tracing.span("enqueue side") as producer:
            assert producer is not None
            remember.send()
        broker.join("traced")
        worker.join()
    finally:
        worker.stop()
    (consumer,) = [s for s in spans.get_finished_spans() if s.name == "traced process"]
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.context.trace_id == producer.get_span_context().trace_id
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.get_span_context().span_id
    # Inside the actor the consumer span is current.
    (traceparent,) = seen
    assert traceparent is not None
    ids = f"{consumer.context.trace_id:032x}-{consumer.context.span_id:016x}"
    assert traceparent.startswith(f"00-{ids}-")


def test_with_tracing_off_nothing_is_added() -> None:
    carrier: dict[str, str] = {}
    enabled = tracing.enabled()
    tracing.stop_tracing()
    try:
        tracing.inject(carrier)
        assert carrier == {} and tracing.current_traceparent() is None
        with tracing.span("ignored") as nothing:
            assert nothing is None
    finally:
        if enabled:
            tracing.resume_tracing()
