"""Reminders end to end: booking-core's scheduler, a real dramatiq worker started with the
``dramatiq`` command, real PostgreSQL and a private Redis this module may restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from bookings_common.events import CHANNEL
from bookings_common.grpc import create_channel
from bookings_common.settings import asyncpg_url
from bookings_proto.bookings import v1 as pb
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import create_async_engine

from .conftest import SERVICE, fresh_database
from .harness import INTERNAL_TOKEN, CoreProcess, RedisProcess, WorkerProcess, eventually

pytestmark = pytest.mark.integration

LEAD_SECONDS = 60
CORE_ENV = {
    "REMINDER_LEAD_SECONDS": str(LEAD_SECONDS),
    "REMINDER_SCHEDULER_INTERVAL_SECONDS": "0.5",
    "REMINDER_REDELIVERY_SECONDS": "3",
    "OUTBOX_RELAY_MIN_AGE_SECONDS": "2",
}


@dataclass
class Collector:
    """Subscribes to ``bookings.events`` and keeps every envelope with its arrival time;
    resubscribes when Redis goes away."""

    url: str
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while True:
            redis = Redis.from_url(self.url)
            try:
                async with redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self.received.append((time.time(), json.loads(message["data"])))
            except (RedisError, OSError):
                self.subscribed.clear()
                await asyncio.sleep(0.1)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await redis.aclose()

    def reminders_for(self, booking_id: str) -> list[tuple[float, dict[str, Any]]]:
        return [
            (at, envelope)
            for at, envelope in self.received
            if envelope["type"] == "booking.reminder.due"
            and envelope["data"]["bookingId"] == booking_id
        ]


@dataclass
class Stack:
    database_url: str
    redis: RedisProcess
    core: CoreProcess
    worker: WorkerProcess
    collector: Collector
    stub: pb.BookingServiceStub
    log_dir: Path

    async def provider(self) -> str:
        reply = await self.stub.register_provider(
            pb.RegisterProviderRequest(actor=SERVICE, name="Reminder Provider")
        )
        assert reply.provider is not None
        return reply.provider.id

    async def customer(self) -> str:
        reply = await self.stub.register_customer(
            pb.RegisterCustomerRequest(
                actor=SERVICE, name="Reminded", email=f"{uuid.uuid4().hex}@example.com"
            )
        )
        assert reply.customer is not None
        return reply.customer.id

    async def book(self, *, due_in: float) -> tuple[str, datetime]:
        """A booking whose reminder is due ``due_in`` seconds from now; returns id and due time."""
        start = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS + due_in)
        reply = await self.stub.create_booking(
            pb.CreateBookingRequest(
                actor=SERVICE,
                provider_id=await self.provider(),
                customer_id=await self.customer(),
                start_time=start,
                end_time=start + timedelta(minutes=30),
            )
        )
        assert reply.booking is not None
        return reply.booking.id, max(start - timedelta(seconds=LEAD_SECONDS), datetime.now(UTC))


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    log_dir = tmp_path_factory.mktemp("reminders")
    async with fresh_database() as database_url:
        redis = RedisProcess(log_dir)
        redis.start()
        core = CoreProcess(database_url, redis.url, log_dir / "core.log", **CORE_ENV)
        await core.start()
        worker = WorkerProcess(core.port, redis.url, log_dir / "worker.log")
        await worker.start()
        collector = Collector(redis.url)
        listening = asyncio.create_task(collector.run())
        await asyncio.wait_for(collector.subscribed.wait(), 10)
        channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
        try:
            yield Stack(
                database_url,
                redis,
                core,
                worker,
                collector,
                pb.BookingServiceStub(channel, timeout=10),
                log_dir,
            )
        finally:
            channel.close()
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
            if worker.process is not None and worker.process.poll() is None:
                worker.terminate()
            core.terminate()
            redis.stop()


async def reminder_arrives(stack: Stack, booking_id: str, within: float) -> float:
    """Wait for the booking's reminder; return its arrival time (epoch seconds)."""

    async def arrived() -> float | None:
        found = stack.collector.reminders_for(booking_id)
        return found[0][0] if found else None

    return await eventually(arrived, timeout=within)


async def test_a_reminder_fires_on_time_exactly_once(stack: Stack) -> None:
    booking_id, due = await stack.book(due_in=3)
    arrived = await reminder_arrives(stack, booking_id, within=10)
    lateness = arrived - due.timestamp()
    assert -0.05 < lateness < 1.0, lateness
    await asyncio.sleep(2)  # duplicates would arrive within the redelivery window
    (only,) = stack.collector.reminders_for(booking_id)
    assert only[1]["data"]["bookingId"] == booking_id
    assert set(only[1]["data"]) == {"bookingId", "providerId", "customerId", "startTime"}
    logged = [json.loads(line) for line in stack.worker.log_lines() if booking_id in line]
    due_lines = [line for line in logged if line.get("event") == "booking.reminder.due"]
    assert len(due_lines) == 1
    assert due_lines[0]["requestId"] == f"reminder:{booking_id}"


async def test_a_booking_made_after_its_due_time_is_reminded_at_once(stack: Stack) -> None:
    created = time.time()
    booking_id, _ = await stack.book(due_in=-30)  # starts in 30 s, lead is 60 s
    arrived = await reminder_arrives(stack, booking_id, within=10)
    assert arrived - created < 1.5


async def test_a_cancelled_booking_gets_no_reminder(stack: Stack) -> None:
    booking_id, due = await stack.book(due_in=2)
    await stack.stub.cancel_booking(pb.CancelBookingRequest(actor=SERVICE, booking_id=booking_id))
    await asyncio.sleep(max(0.0, due.timestamp() - time.time()) + 3)
    assert stack.collector.reminders_for(booking_id) == []


async def test_a_stopped_worker_delivers_once_when_it_returns(stack: Stack) -> None:
    booking_id, due = await stack.book(due_in=2)
    assert stack.worker.terminate() == 0
    await asyncio.sleep(max(0.0, due.timestamp() - time.time()) + 10)
    assert stack.collector.reminders_for(booking_id) == []
    await stack.worker.start()
    await reminder_arrives(stack, booking_id, within=15)
    await asyncio.sleep(4)  # past the redelivery window: still one
    assert len(stack.collector.reminders_for(booking_id)) == 1


async def test_reminders_survive_a_redis_restart(stack: Stack) -> None:
    ids = [(await stack.book(due_in=3))[0] for _ in range(3)]
    stack.redis.stop()  # not persistent: the enqueued messages are lost
    await asyncio.sleep(1)
    stack.redis.start()
    await asyncio.wait_for(stack.collector.subscribed.wait(), 10)
    for booking_id in ids:
        await reminder_arrives(stack, booking_id, within=30)
    await asyncio.sleep(2)
    assert [len(stack.collector.reminders_for(b)) for b in ids] == [1, 1, 1]


async def test_two_core_replicas_schedule_each_reminder_once(stack: Stack) -> None:
    second = CoreProcess(
        stack.database_url, stack.redis.url, stack.log_dir / "core-2.log", **CORE_ENV
    )
    await second.start()
    try:
        ids = [(await stack.book(due_in=3 + slot * 0.1))[0] for slot in range(20)]
        for booking_id in ids:
            await reminder_arrives(stack, booking_id, within=40)
        await asyncio.sleep(2)
        assert [len(stack.collector.reminders_for(b)) for b in ids] == [1] * 20
    finally:
        second.terminate()


async def test_claiming_twice_yields_one_event(stack: Stack) -> None:
    booking_id, _ = await stack.book(due_in=-1)
    first = await stack.stub.claim_reminder(
        pb.ClaimReminderRequest(actor=SERVICE, booking_id=booking_id)
    )
    second = await stack.stub.claim_reminder(
        pb.ClaimReminderRequest(actor=SERVICE, booking_id=booking_id)
    )
    assert second.outcome == pb.ClaimOutcome.ALREADY_SENT
    assert first.outcome in (pb.ClaimOutcome.CLAIMED, pb.ClaimOutcome.ALREADY_SENT)
    assert first.event is not None and second.event is not None
    assert first.event.id == second.event.id
    engine = create_async_engine(asyncpg_url(stack.database_url))
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(
                sa.text(
                    "SELECT count(*) FROM events WHERE booking_id = :b"
                    " AND type = 'booking.reminder.due'"
                ),
                {"b": uuid.UUID(booking_id)},
            )
    finally:
        await engine.dispose()
    assert count == 1
    await reminder_arrives(stack, booking_id, within=10)  # published once, by someone
