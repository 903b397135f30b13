"""The reminder worker SIGKILLed (its whole process group) while a batch of 200 reminders
is firing, then replaced by a new worker."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from bookings_common.events import BOOKING_REMINDER_DUE
from bookings_common.grpc import create_channel
from bookings_proto.bookings import v1 as pb

from tests.integration.conftest import SERVICE
from tests.integration.harness import INTERNAL_TOKEN, CoreProcess, RedisProcess, eventually

from .conftest import Directory, EventTap, GroupWorker, fetch, fetchval, tail

pytestmark = pytest.mark.faults

BOOKINGS = 200
LEAD_SECONDS = 5
# Creating 200 bookings must finish before the first reminder is due, even on a busy
# machine; the due times then spread over SPREAD_SECONDS.
CREATE_BUDGET_SECONDS = 8.0
SPREAD_SECONDS = 2.0
KILL_AFTER_SENT = 30
THREADS = 8
CORE_ENV = {
    "REMINDER_LEAD_SECONDS": str(LEAD_SECONDS),
    "REMINDER_SCHEDULER_INTERVAL_SECONDS": "0.5",
    "REMINDER_REDELIVERY_SECONDS": "3",
    "OUTBOX_RELAY_MIN_AGE_SECONDS": "2",
}


async def book_batch(stub: pb.BookingServiceStub) -> list[str]:
    """``BOOKINGS`` back-to-back 10 ms bookings of one provider whose reminders fall due
    one after another over ``SPREAD_SECONDS``, starting ``CREATE_BUDGET_SECONDS`` from now."""
    directory = Directory(stub)
    provider = await directory.provider()
    customers = [await directory.customer() for _ in range(10)]
    step = timedelta(seconds=SPREAD_SECONDS / BOOKINGS)
    first = datetime.now(UTC) + timedelta(seconds=CREATE_BUDGET_SECONDS + LEAD_SECONDS)
    limit = asyncio.Semaphore(20)

    async def book(n: int) -> str:
        start = first + n * step
        async with limit:
            reply = await stub.create_booking(
                pb.CreateBookingRequest(
                    actor=SERVICE,
                    provider_id=provider,
                    customer_id=customers[n % len(customers)],
                    start_time=start,
                    end_time=start + step,
                )
            )
        assert reply.booking is not None
        return reply.booking.id

    return list(await asyncio.gather(*(book(n) for n in range(BOOKINGS))))


@pytest.mark.timeout(150)
async def test_worker_sigkilled_mid_batch_every_reminder_fires_once(
    database_url: str, redis: RedisProcess, tmp_path: Path
) -> None:
    """Proves: with the worker killed (every process) while reminders are being claimed and
    published, and a new worker started, every reminder is sent, booking-core writes exactly
    one booking.reminder.due event per booking, and on ``bookings.events`` each reminder
    event shows up with its one id, at most twice (the killed worker's publish, then the
    outbox relay's), for exactly the bookings made."""
    core = CoreProcess(database_url, redis.url, tmp_path / "core.log", **CORE_ENV)
    await core.start()
    first = GroupWorker(core.port, redis.url, tmp_path / "worker-1.log", threads=THREADS)
    second = GroupWorker(core.port, redis.url, tmp_path / "worker-2.log", threads=THREADS)
    await first.start()
    channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
    stub = pb.BookingServiceStub(channel, timeout=10)
    try:
        async with EventTap(redis.url) as tap:
            bookings = await book_batch(stub)
            watcher = await asyncpg.connect(database_url)
            try:

                async def some_sent() -> int:
                    sent: int = await watcher.fetchval(
                        "SELECT count(*) FROM reminders WHERE state = 'sent'"
                    )
                    return sent if sent >= KILL_AFTER_SENT else 0

                sent_before = await eventually(
                    some_sent, timeout=CREATE_BUDGET_SECONDS + 30, interval=0.01
                )
                assert first.kill_group() == -signal.SIGKILL
                sent_at_kill = await watcher.fetchval(
                    "SELECT count(*) FROM reminders WHERE state = 'sent'"
                )
            finally:
                await watcher.close()
            print(f"killed the worker with {sent_before}..{sent_at_kill} of {BOOKINGS} sent")
            assert sent_at_kill < BOOKINGS, "the batch was over before the kill"

            await second.start()

            async def all_sent() -> bool:
                sent = await fetchval(
                    database_url, "SELECT count(*) FROM reminders WHERE state = 'sent'"
                )
                return bool(sent == BOOKINGS)

            await eventually(all_sent, timeout=60, interval=0.2)

            rows = await fetch(
                database_url,
                "SELECT booking_id, count(*) AS n, min(id) AS id FROM events"
                " WHERE type = $1 GROUP BY booking_id",
                BOOKING_REMINDER_DUE,
            )
            per_booking = {str(row["booking_id"]): row["n"] for row in rows}
            assert per_booking == dict.fromkeys(bookings, 1), tail(second.log_path)
            logged = {row["id"] for row in rows}

            async def all_published() -> bool:
                pending = await fetchval(
                    database_url, "SELECT count(*) FROM events WHERE published_at IS NULL"
                )
                return bool(pending == 0)

            await eventually(all_published, timeout=30, interval=0.2)

            async def all_on_the_wire() -> bool:
                return set(tap.ids(BOOKING_REMINDER_DUE)) >= logged

            await eventually(all_on_the_wire, timeout=10)
            await asyncio.sleep(1)  # a late duplicate would arrive now
            seen = Counter(tap.ids(BOOKING_REMINDER_DUE))
            reminded = {
                envelope["data"]["bookingId"]
                for envelope in tap.received
                if envelope["type"] == BOOKING_REMINDER_DUE
            }
        duplicates = Counter(seen.values())
        print(f"reminder events on the wire, by times seen: {dict(duplicates)}")
        assert set(seen) == logged
        assert max(seen.values()) <= 2, duplicates
        assert reminded == set(bookings)
        assert {str(uuid.UUID(b)) for b in bookings} == set(per_booking)
    finally:
        channel.close()
        first.stop()
        second.stop()
        core.terminate()
