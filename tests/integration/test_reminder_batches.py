"""Reminders claimed in batches: booking-core's ``ClaimReminders`` and
``MarkEventPublished(event_ids)`` over gRPC against real PostgreSQL, and a burst of
reminders due at the same moment through a real worker (``send_reminders``).

The module's booking-core has a private Redis, a scheduler horizon of 3 s (so a burst
is taken by one scheduling pass) and an outbox relay that waits 10 minutes, so an event
the worker failed to mark stays unpublished where the tests can see it. The worker runs
only in the burst test: before that nobody claims what the tests claim by hand."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from bookings_common.grpc import create_channel, error_reason
from bookings_common.settings import asyncpg_url
from bookings_proto.bookings import v1 as pb
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .conftest import SERVICE, fresh_database
from .harness import INTERNAL_TOKEN, CoreProcess, RedisProcess, WorkerProcess, eventually
from .test_reminders import Collector

pytestmark = pytest.mark.integration

LEAD_SECONDS = 60
CORE_ENV = {
    "REMINDER_LEAD_SECONDS": str(LEAD_SECONDS),
    "REMINDER_SCHEDULER_INTERVAL_SECONDS": "0.5",
    "REMINDER_HORIZON_SECONDS": "3",
    "OUTBOX_RELAY_MIN_AGE_SECONDS": "600",
}
BURST = 30


@dataclass
class Stack:
    database_url: str
    redis: RedisProcess
    core: CoreProcess
    collector: Collector
    stub: pb.BookingServiceStub
    engine: AsyncEngine
    log_dir: Path

    async def booking(self, *, start_in: float) -> pb.Booking:
        """A booking of a provider and customer of its own, starting ``start_in`` s from now
        (its reminder is due ``start_in - LEAD_SECONDS`` s from now, or at once)."""
        start = datetime.now(UTC) + timedelta(seconds=start_in)
        return await self.booking_at(start)

    async def booking_at(self, start: datetime) -> pb.Booking:
        provider, customer = await asyncio.gather(
            self.stub.register_provider(
                pb.RegisterProviderRequest(actor=SERVICE, name="Batch Provider")
            ),
            self.stub.register_customer(
                pb.RegisterCustomerRequest(
                    actor=SERVICE, name="Batched", email=f"{uuid.uuid4().hex}@example.com"
                )
            ),
        )
        assert provider.provider is not None and customer.customer is not None
        reply = await self.stub.create_booking(
            pb.CreateBookingRequest(
                actor=SERVICE,
                provider_id=provider.provider.id,
                customer_id=customer.customer.id,
                start_time=start,
                end_time=start + timedelta(minutes=30),
            )
        )
        assert reply.booking is not None
        return reply.booking

    async def due_booking(self) -> pb.Booking:
        return await self.booking(start_in=LEAD_SECONDS / 2)  # due already

    async def claim(self, booking_ids: list[str]) -> list[pb.ClaimedReminder]:
        reply = await self.stub.claim_reminders(
            pb.ClaimRemindersRequest(actor=SERVICE, booking_ids=booking_ids)
        )
        return reply.reminders

    async def events_of(self, booking_ids: list[str]) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT id, type, booking_id, payload, published_at FROM events"
                    " WHERE booking_id = ANY(:ids) ORDER BY id"
                ),
                {"ids": [uuid.UUID(b) for b in booking_ids]},
            )
            return [dict(row) for row in rows.mappings()]


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    log_dir = tmp_path_factory.mktemp("reminder-batches")
    async with fresh_database() as database_url:
        redis = RedisProcess(log_dir)
        redis.start()
        core = CoreProcess(database_url, redis.url, log_dir / "core.log", **CORE_ENV)
        engine = create_async_engine(asyncpg_url(database_url))
        collector = Collector(redis.url)
        listening = asyncio.create_task(collector.run())
        channel = None
        try:
            await core.start()
            await asyncio.wait_for(collector.subscribed.wait(), 10)
            channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
            yield Stack(
                database_url,
                redis,
                core,
                collector,
                pb.BookingServiceStub(channel, timeout=10),
                engine,
                log_dir,
            )
        finally:
            if channel is not None:
                channel.close()
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
            await engine.dispose()
            if core.process is not None:
                core.terminate()
            redis.stop()


async def expect_error(call: Any, status: Status, reason: str) -> None:
    with pytest.raises(GRPCError) as info:
        await call
    assert info.value.status is status, info.value.message
    assert error_reason(info.value) == reason


async def test_a_batch_answers_each_booking_in_order_in_one_transaction(stack: Stack) -> None:
    due = list(await asyncio.gather(*(stack.due_booking() for _ in range(4))))
    cancelled = await stack.due_booking()
    await stack.stub.cancel_booking(pb.CancelBookingRequest(actor=SERVICE, booking_id=cancelled.id))
    not_due = await stack.booking(start_in=2 * 3600)
    unknown = str(uuid.uuid4())
    ids = [due[0].id, unknown, due[1].id, cancelled.id, due[2].id, not_due.id, due[3].id]
    claimed_at = datetime.now(UTC)

    first = await stack.claim(ids)

    assert [r.booking_id for r in first] == ids
    assert [r.outcome for r in first] == [
        pb.ClaimOutcome.CLAIMED,
        pb.ClaimOutcome.NOT_FOUND,
        pb.ClaimOutcome.CLAIMED,
        pb.ClaimOutcome.CANCELLED,
        pb.ClaimOutcome.CLAIMED,
        pb.ClaimOutcome.NOT_DUE,
        pb.ClaimOutcome.CLAIMED,
    ]
    by_id = dict(zip(ids, first, strict=True))
    assert by_id[unknown].event is None and by_id[cancelled.id].event is None
    later = by_id[not_due.id]
    assert later.event is None and later.due_at is not None
    assert later.due_at > claimed_at + timedelta(minutes=50)
    claimed = [by_id[b.id] for b in due]
    for booking, reply in zip(due, claimed, strict=True):
        assert reply.event is not None and not reply.published
        assert reply.event.type == "booking.reminder.due"
        assert reply.event.booking_id == booking.id
        assert json.loads(reply.event.data_json) == {
            "bookingId": booking.id,
            "providerId": booking.provider_id,
            "customerId": booking.customer_id,
            "startTime": json.loads(reply.event.data_json)["startTime"],
        }
        assert reply.due_at is not None and reply.due_at <= claimed_at
    event_ids = [r.event.id for r in claimed if r.event is not None]
    # Appended by one statement after the sequencer's lock: consecutive ids.
    assert sorted(event_ids) == list(range(min(event_ids), min(event_ids) + len(due)))
    # In the table, as answered, and not published (the worker would publish them).
    rows = [row for row in await stack.events_of(ids) if row["type"] == "booking.reminder.due"]
    assert [row["id"] for row in rows] == sorted(event_ids)
    assert all(row["published_at"] is None for row in rows)
    for reply in claimed:
        assert reply.event is not None
        (row,) = [row for row in rows if row["id"] == reply.event.id]
        assert str(row["booking_id"]) == reply.booking_id
        assert row["payload"] == json.loads(reply.event.data_json)

    second = await stack.claim(ids)

    assert [r.outcome for r in second] == [
        pb.ClaimOutcome.ALREADY_SENT,
        pb.ClaimOutcome.NOT_FOUND,
        pb.ClaimOutcome.ALREADY_SENT,
        pb.ClaimOutcome.CANCELLED,
        pb.ClaimOutcome.ALREADY_SENT,
        pb.ClaimOutcome.NOT_DUE,
        pb.ClaimOutcome.ALREADY_SENT,
    ]
    again = {r.booking_id: r for r in second}
    assert [again[b.id].event.id for b in due] == event_ids  # type: ignore[union-attr]
    assert not any(again[b.id].published for b in due)

    await stack.stub.mark_event_published(
        pb.MarkEventPublishedRequest(actor=SERVICE, event_ids=event_ids)
    )

    third = {r.booking_id: r for r in await stack.claim(ids)}
    assert all(third[b.id].published for b in due)
    assert [third[b.id].event.id for b in due] == event_ids  # type: ignore[union-attr]
    rows = [row for row in await stack.events_of(ids) if row["type"] == "booking.reminder.due"]
    assert len(rows) == len(due) and all(row["published_at"] is not None for row in rows)


async def test_a_batch_of_one_and_the_single_claim_agree(stack: Stack) -> None:
    one, other = await asyncio.gather(stack.due_booking(), stack.due_booking())
    (claimed,) = await stack.claim([one.id])
    assert claimed.outcome == pb.ClaimOutcome.CLAIMED and claimed.event is not None
    single = await stack.stub.claim_reminder(
        pb.ClaimReminderRequest(actor=SERVICE, booking_id=one.id)
    )
    assert single.outcome == pb.ClaimOutcome.ALREADY_SENT
    assert single.event is not None and single.event.id == claimed.event.id
    # and the other way round
    by_one = await stack.stub.claim_reminder(
        pb.ClaimReminderRequest(actor=SERVICE, booking_id=other.id)
    )
    assert by_one.outcome == pb.ClaimOutcome.CLAIMED and by_one.event is not None
    both = await stack.claim([other.id, one.id])
    assert [r.outcome for r in both] == [pb.ClaimOutcome.ALREADY_SENT] * 2
    assert [r.event.id for r in both if r.event] == [by_one.event.id, claimed.event.id]

    # event_id and event_ids together
    await stack.stub.mark_event_published(
        pb.MarkEventPublishedRequest(
            actor=SERVICE, event_id=claimed.event.id, event_ids=[by_one.event.id]
        )
    )
    assert all(r.published for r in await stack.claim([one.id, other.id]))


async def test_bad_batches_are_refused_and_claim_nothing(stack: Stack) -> None:
    booking = await stack.due_booking()
    bad = {
        "a repeated id": [booking.id, str(uuid.uuid4()), booking.id],
        "the same id spelt twice": [booking.id, booking.id.upper()],
        "no ids": [],
        "501 ids": [booking.id, *(str(uuid.uuid4()) for _ in range(500))],
        "a malformed id": [booking.id, "not-a-uuid"],
    }
    for name, ids in bad.items():
        request = pb.ClaimRemindersRequest(actor=SERVICE, booking_ids=ids)
        with pytest.raises(GRPCError) as info:
            await stack.stub.claim_reminders(request)
        assert info.value.status is Status.INVALID_ARGUMENT, (name, info.value.message)
        assert error_reason(info.value) == "VALIDATION_FAILED", name
    customer = pb.Actor(customer_id=booking.customer_id)
    await expect_error(
        stack.stub.claim_reminders(
            pb.ClaimRemindersRequest(actor=customer, booking_ids=[booking.id])
        ),
        Status.PERMISSION_DENIED,
        "FORBIDDEN",
    )
    provider = pb.Actor(provider_id=booking.provider_id)
    await expect_error(
        stack.stub.claim_reminders(
            pb.ClaimRemindersRequest(actor=provider, booking_ids=[booking.id])
        ),
        Status.PERMISSION_DENIED,
        "FORBIDDEN",
    )
    assert [row["type"] for row in await stack.events_of([booking.id])] == ["booking.created"]

    # None of those claimed anything: the reminder is still there to claim, once.
    (claimed,) = await stack.claim([booking.id])
    assert claimed.outcome == pb.ClaimOutcome.CLAIMED and claimed.event is not None

    for event_ids in ([claimed.event.id, 0], [-1], list(range(1, 502))):
        await expect_error(
            stack.stub.mark_event_published(
                pb.MarkEventPublishedRequest(actor=SERVICE, event_ids=event_ids)
            ),
            Status.INVALID_ARGUMENT,
            "VALIDATION_FAILED",
        )
    await expect_error(
        stack.stub.mark_event_published(pb.MarkEventPublishedRequest(actor=SERVICE)),
        Status.INVALID_ARGUMENT,
        "VALIDATION_FAILED",
    )
    await expect_error(
        stack.stub.mark_event_published(
            pb.MarkEventPublishedRequest(actor=customer, event_ids=[claimed.event.id])
        ),
        Status.PERMISSION_DENIED,
        "FORBIDDEN",
    )
    (still,) = await stack.claim([booking.id])
    assert still.outcome == pb.ClaimOutcome.ALREADY_SENT and not still.published
    await stack.stub.mark_event_published(
        pb.MarkEventPublishedRequest(actor=SERVICE, event_ids=[claimed.event.id])
    )


async def test_a_burst_due_at_once_is_delivered_exactly_once_through_the_worker(
    stack: Stack,
) -> None:
    worker = WorkerProcess(stack.core.port, stack.redis.url, stack.log_dir / "worker.log")
    starting = asyncio.create_task(worker.start())
    try:
        # One start for all (providers of their own: one provider's slots cannot
        # overlap), due 6 s from now: beyond the 3 s horizon until they all exist.
        start = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS + 6)
        due = (start - timedelta(seconds=LEAD_SECONDS)).timestamp()
        bookings = await asyncio.gather(*(stack.booking_at(start) for _ in range(BURST)))
        ids = [b.id for b in bookings]
        assert time.time() < due - 3, "creating the burst took too long for the test"
        await starting

        async def all_arrived() -> bool:
            return all(stack.collector.reminders_for(b) for b in ids)

        await eventually(all_arrived, timeout=due - time.time() + 10)
        arrivals = [stack.collector.reminders_for(b)[0][0] for b in ids]
        assert min(arrivals) > due - 0.1, "a reminder arrived before it was due"
        assert max(arrivals) - due < 3.0

        # Marked published by the worker (the relay waits 10 minutes here).
        async def all_marked() -> bool:
            rows = await stack.events_of(ids)
            return len(rows) == 2 * BURST and all(r["published_at"] for r in rows)

        await eventually(all_marked, timeout=5)
        await asyncio.sleep(1.5)  # a duplicate would arrive within this
        assert [len(stack.collector.reminders_for(b)) for b in ids] == [1] * BURST
        envelopes = [stack.collector.reminders_for(b)[0][1] for b in ids]
        rows = await stack.events_of(ids)
        reminder_rows = {
            str(r["booking_id"]): r for r in rows if r["type"] == "booking.reminder.due"
        }
        assert set(reminder_rows) == set(ids)
        assert [int(e["id"]) for e in envelopes] == [reminder_rows[b]["id"] for b in ids]
        assert all(r["published_at"] is not None for r in rows)

        # Claimed in batches: the burst's log lines carry the request ids of few jobs.
        lines = [json.loads(line) for line in worker.log_lines() if line.startswith("{")]
        due_lines = [
            line
            for line in lines
            if line.get("event") == "booking.reminder.due" and line.get("bookingId") in ids
        ]
        assert sorted(line["bookingId"] for line in due_lines) == sorted(ids)
        assert len({line["requestId"] for line in due_lines}) < BURST / 3
    finally:
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
        if worker.process is not None and worker.process.poll() is None:
            worker.terminate()
