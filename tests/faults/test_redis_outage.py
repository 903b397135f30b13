"""Redis stopped for 10 s while bookings keep being made and reminders fall due, with
WebSocket and SSE clients connected to a notifier replica throughout."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bookings_common.events import BOOKING_REMINDER_DUE
from bookings_common.grpc import create_channel
from bookings_proto.bookings import v1 as pb

from tests.integration.conftest import SERVICE
from tests.integration.harness import (
    INTERNAL_TOKEN,
    CoreProcess,
    NotifierProcess,
    RedisProcess,
    SseStream,
    WorkerProcess,
    eventually,
    make_token,
)

from .conftest import Directory, fetch, tail

pytestmark = pytest.mark.faults

LEAD_SECONDS = 5
# Each booking's reminder falls due this long after the booking is made.
DUE_AFTER_SECONDS = 2.5
BOOKING_EVERY_SECONDS = 0.25
BEFORE_SECONDS = 3.0
OUTAGE_SECONDS = 10.0
AFTER_SECONDS = 3.0
# A claim may run this much before the reminder is due (booking_core CLAIM_EARLY_TOLERANCE).
CLAIM_EARLY_TOLERANCE_SECONDS = 1.0
CORE_ENV = {
    "REMINDER_LEAD_SECONDS": str(LEAD_SECONDS),
    "REMINDER_SCHEDULER_INTERVAL_SECONDS": "0.5",
    "REMINDER_REDELIVERY_SECONDS": "3",
}


@dataclass
class Client:
    """A WebSocket or SSE client of one customer or provider that behaves like a browser:
    when its connection ends it reconnects, resuming after the last event id it got."""

    url: str
    transport: str
    role: str
    owner_id: str
    session: aiohttp.ClientSession
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    deliveries: int = 0
    connections: int = 0
    last_id: int | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    def _got(self, envelope: dict[str, Any]) -> None:
        self.deliveries += 1
        self.last_id = int(envelope["id"])
        self.events[self.last_id] = envelope

    async def _run(self) -> None:
        while True:
            headers = {"Authorization": f"Bearer {make_token(self.role, self.owner_id)}"}
            try:
                if self.transport == "websocket":
                    await self._websocket(headers)
                else:
                    await self._sse(headers)
            except (aiohttp.ClientError, EOFError, ConnectionError):
                pass
            self.connected.clear()
            await asyncio.sleep(0.5)

    async def _websocket(self, headers: dict[str, str]) -> None:
        params = {} if self.last_id is None else {"lastEventId": str(self.last_id)}
        async with self.session.ws_connect(f"{self.url}/ws", headers=headers, params=params) as ws:
            self.connections += 1
            self.connected.set()
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    self._got(json.loads(message.data))

    async def _sse(self, headers: dict[str, str]) -> None:
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        async with self.session.get(f"{self.url}/events", headers=headers) as response:
            assert response.status == 200, await response.text()
            self.connections += 1
            self.connected.set()
            stream = SseStream(response)
            while True:
                _, _, data = await stream.next_event()
                self._got(json.loads(data))


@dataclass(frozen=True)
class Made:
    """A booking the test made, and when (UTC)."""

    booking_id: str
    provider_id: str
    customer_id: str
    made_at: datetime


@pytest.mark.timeout(150)
async def test_redis_down_10s_loses_no_booking_event_or_reminder(
    database_url: str, redis: RedisProcess, tmp_path: Path
) -> None:
    """Proves: with Redis stopped for 10 s (and restarted empty) while bookings keep being
    made, every create succeeds; every event booking-core logged reaches each connected
    client of the booking's customer and provider once Redis is back (deduplicated by
    id); every reminder fires, exactly once (one booking.reminder.due event row per
    booking), and those that fell due during the outage fire only after it."""
    core = CoreProcess(database_url, redis.url, tmp_path / "core.log", **CORE_ENV)
    await core.start()
    notifier = NotifierProcess(core.port, redis.url, tmp_path / "notifier.log")
    worker = WorkerProcess(core.port, redis.url, tmp_path / "worker.log")
    await asyncio.gather(notifier.start(), worker.start())
    channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
    stub = pb.BookingServiceStub(channel, timeout=10)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
    clients: list[Client] = []
    try:
        directory = Directory(stub)
        providers = [await directory.provider() for _ in range(2)]
        customers = [await directory.customer() for _ in range(3)]
        for role, owners, transport in (
            ("customer", customers, "websocket"),
            ("provider", providers, "sse"),
        ):
            clients += [Client(notifier.url, transport, role, o, session) for o in owners]
        for client in clients:
            client.start()
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), 10)

        made: list[Made] = []
        failures: list[BaseException] = []
        pairs = zip(itertools.cycle(providers), itertools.cycle(customers), strict=False)

        async def book(provider_id: str, customer_id: str) -> None:
            made_at = datetime.now(UTC)
            start = made_at + timedelta(seconds=LEAD_SECONDS + DUE_AFTER_SECONDS)
            try:
                reply = await stub.create_booking(
                    pb.CreateBookingRequest(
                        actor=SERVICE,
                        provider_id=provider_id,
                        customer_id=customer_id,
                        start_time=start,
                        end_time=start + timedelta(milliseconds=50),
                    )
                )
            except Exception as exc:
                failures.append(exc)
                return
            assert reply.booking is not None
            made.append(Made(reply.booking.id, provider_id, customer_id, made_at))

        async def keep_booking(seconds: float) -> None:
            """One create every BOOKING_EVERY_SECONDS (each on its own, so a slow one does
            not hold the next back) for ``seconds``."""
            pending = []
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                pending.append(asyncio.create_task(book(*next(pairs))))
                await asyncio.sleep(BOOKING_EVERY_SECONDS)
            await asyncio.gather(*pending)

        await keep_booking(BEFORE_SECONDS)
        booking = asyncio.create_task(keep_booking(OUTAGE_SECONDS + AFTER_SECONDS))
        await asyncio.to_thread(redis.stop)
        down_at = datetime.now(UTC)
        await asyncio.sleep(OUTAGE_SECONDS)
        back_at = datetime.now(UTC)  # nothing can fire before Redis listens again
        await asyncio.to_thread(redis.start)
        await booking

        assert failures == [], failures
        expected = round((BEFORE_SECONDS + OUTAGE_SECONDS + AFTER_SECONDS) / BOOKING_EVERY_SECONDS)
        assert len(made) >= expected * 0.8, f"only {len(made)} bookings made"
        booking_ids = [uuid.UUID(m.booking_id) for m in made]

        # Every reminder fires, once.
        async def all_sent() -> bool:
            rows = await fetch(
                database_url,
                "SELECT count(*) FILTER (WHERE state = 'sent') AS sent, count(*) AS total"
                " FROM reminders WHERE booking_id = ANY($1::uuid[])",
                booking_ids,
            )
            return bool(rows[0]["sent"] == rows[0]["total"] == len(made))

        await eventually(all_sent, timeout=60, interval=0.25)
        reminders = await fetch(
            database_url,
            "SELECT booking_id, due_at, sent_at FROM reminders WHERE booking_id = ANY($1::uuid[])",
            booking_ids,
        )
        per_booking = await fetch(
            database_url,
            "SELECT booking_id, count(*) AS n FROM events WHERE type = $1 GROUP BY booking_id",
            BOOKING_REMINDER_DUE,
        )
        assert {row["booking_id"]: row["n"] for row in per_booking} == dict.fromkeys(booking_ids, 1)
        fell_due_in_outage = [
            row
            for row in reminders
            if down_at + timedelta(seconds=CLAIM_EARLY_TOLERANCE_SECONDS) <= row["due_at"] < back_at
        ]
        print(f"{len(made)} bookings, {len(fell_due_in_outage)} reminders fell due in the outage")
        assert len(fell_due_in_outage) >= OUTAGE_SECONDS / BOOKING_EVERY_SECONDS / 2
        fired_early = [row for row in fell_due_in_outage if row["sent_at"] < back_at]
        assert fired_early == [], fired_early

        # Every logged event of a client's owner reaches that client.
        logged = await fetch(
            database_url, "SELECT id, type, customer_id, provider_id FROM events ORDER BY id"
        )

        def owed(client: Client) -> set[int]:
            column = f"{client.role}_id"
            return {row["id"] for row in logged if str(row[column]) == client.owner_id}

        async def delivered() -> bool:
            return all(set(client.events) == owed(client) for client in clients)

        try:
            await eventually(delivered, timeout=30, interval=0.25)
        finally:
            report = {
                f"{c.transport}:{c.role}:{c.owner_id[:8]}": (
                    len(c.events),
                    len(owed(c)),
                    c.connections,
                )
                for c in clients
            }
            print(f"client (received, owed, connections): {report}")
        types = Counter(row["type"] for row in logged)
        assert types == {"booking.created": len(made), BOOKING_REMINDER_DUE: len(made)}, types
        # No process logs a traceback: the worker's publish that hits the dead Redis is
        # one reminder.retry line, then retried.
        for log in (core.log_path, notifier.log_path, worker.log_path):
            assert "Traceback" not in log.read_text(), tail(log)
    finally:
        for client in clients:
            await client.stop()
        await session.close()
        channel.close()
        for process in (notifier, worker, core):
            if process.process is not None and process.process.poll() is None:
                process.terminate()
