"""A private PostgreSQL stopped (fast shutdown) under load and started again, with
booking-core and the gateway left running throughout."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from bookings_common.grpc import create_channel
from bookings_proto.bookings import v1 as pb
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from tests.integration.conftest import SERVICE, migrate
from tests.integration.harness import (
    INTERNAL_TOKEN,
    CoreProcess,
    GatewayProcess,
    RedisProcess,
    eventually,
    make_token,
)

from .conftest import Directory, PostgresProcess, fetch, fetchval, tail

pytestmark = pytest.mark.faults

DEADLINE_SECONDS = 2.0
DOWN_SECONDS = 3.0
RECOVERY_SECONDS = 20.0
LOAD_CONCURRENCY = 8
LEAD_SECONDS = 5
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Outcome:
    """One gRPC create of the background load: ``status`` is "OK" or a gRPC status name."""

    started_at: float
    ended_at: float
    status: str
    booking_id: str | None


class Slots:
    """Hour-long slots of one provider, handed out once each, far in the future."""

    def __init__(self) -> None:
        self._first = datetime.now(UTC).replace(microsecond=0) + timedelta(days=60)
        self._next = 0

    def take(self) -> tuple[datetime, datetime]:
        start = self._first + timedelta(hours=self._next)
        self._next += 1
        return start, start + timedelta(minutes=30)


async def create_database(cluster: PostgresProcess, name: str) -> str:
    """Create and migrate ``name`` on the private cluster; return its URL."""
    conn = await asyncpg.connect(cluster.url(), timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = cluster.url(name)
    await asyncio.to_thread(migrate, url)
    return url


@pytest.mark.timeout(150)
async def test_postgres_restart_is_unavailable_then_recovers_without_restarting_services(
    postgres: PostgresProcess, redis: RedisProcess, tmp_path: Path
) -> None:
    """Proves: while PostgreSQL is down every booking-core call answers gRPC UNAVAILABLE
    and the gateway 503 UPSTREAM_UNAVAILABLE problem+json (promptly, not 504, never 500),
    calls cut by the fast shutdown also end UNAVAILABLE; after PostgreSQL returns, the same
    booking-core and gateway processes serve creates again within a bounded time, every
    create they acknowledged is stored, the outbox publishes everything and the reminder
    scheduler works again."""
    database_url = await create_database(postgres, "bookings")
    core = CoreProcess(
        database_url,
        redis.url,
        tmp_path / "core.log",
        REMINDER_LEAD_SECONDS=str(LEAD_SECONDS),
        REMINDER_SCHEDULER_INTERVAL_SECONDS="0.5",
    )
    await core.start()
    gateway = GatewayProcess(
        core.port,
        tmp_path / "gateway.log",
        CORE_DEADLINE_SECONDS=str(DEADLINE_SECONDS),
        RATE_LIMIT_PER_MINUTE="1000000",
    )
    await gateway.start()
    assert core.process is not None and gateway.process is not None
    pids = (core.process.pid, gateway.process.pid)
    channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
    stub = pb.BookingServiceStub(channel, timeout=10)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    directory = Directory(stub)
    slots = Slots()
    try:
        provider, customer = await directory.provider(), await directory.customer()
        auth = {"Authorization": f"Bearer {make_token('customer', customer)}"}

        def grpc_create() -> Any:
            start, end = slots.take()
            return stub.create_booking(
                pb.CreateBookingRequest(
                    actor=SERVICE,
                    provider_id=provider,
                    customer_id=customer,
                    start_time=start,
                    end_time=end,
                )
            )

        async def rest_create() -> tuple[int, str, dict[str, Any]]:
            start, end = slots.take()
            body = {
                "providerId": provider,
                "customerId": customer,
                "startTime": start.isoformat(),
                "endTime": end.isoformat(),
            }
            async with session.post(f"{gateway.url}/bookings", json=body, headers=auth) as reply:
                return reply.status, reply.content_type, await reply.json()

        first = (await grpc_create()).booking
        assert first is not None
        assert (await rest_create())[0] == 201

        # A steady load of creates keeps transactions open when PostgreSQL goes away.
        outcomes: list[Outcome] = []
        loading = True

        async def load() -> None:
            while loading:
                started = time.monotonic()
                try:
                    booking = (await grpc_create()).booking
                    status, booking_id = "OK", booking.id if booking else None
                except GRPCError as exc:
                    status, booking_id = exc.status.name, None
                outcomes.append(Outcome(started, time.monotonic(), status, booking_id))
                await asyncio.sleep(0.02)  # busy, but leaves the machine to the probes

        workers = [asyncio.create_task(load()) for _ in range(LOAD_CONCURRENCY)]

        async def some_load() -> bool:
            return sum(o.status == "OK" for o in outcomes) >= 20

        await eventually(some_load, timeout=30)
        await asyncio.to_thread(postgres.stop, "fast")
        stopped_at = time.monotonic()

        # Down: every call is UNAVAILABLE over gRPC and 503 through the gateway, promptly.
        probes = 0
        while time.monotonic() - stopped_at < DOWN_SECONDS:
            for call in (
                grpc_create(),
                stub.get_booking(pb.GetBookingRequest(actor=SERVICE, booking_id=first.id)),
            ):
                asked = time.monotonic()
                with pytest.raises(GRPCError) as info:
                    await call
                assert info.value.status is Status.UNAVAILABLE, info.value
                assert time.monotonic() - asked < DEADLINE_SECONDS
            asked = time.monotonic()
            status, content_type, problem = await rest_create()
            assert (status, content_type) == (503, PROBLEM), problem
            assert problem["code"] == "UPSTREAM_UNAVAILABLE", problem
            assert time.monotonic() - asked < DEADLINE_SECONDS
            async with session.get(f"{gateway.url}/bookings/{first.id}", headers=auth) as reply:
                assert reply.status == 503, await reply.text()
                assert reply.headers["Retry-After"] == "1"
            probes += 1
            await asyncio.sleep(0.2)
        assert probes >= 3

        await asyncio.to_thread(postgres.start)
        started_at = time.monotonic()

        async def grpc_recovered() -> bool:
            return (await grpc_create()).booking is not None

        async def rest_recovered() -> bool:
            return (await rest_create())[0] == 201

        await eventually(grpc_recovered, timeout=RECOVERY_SECONDS, interval=0.2)
        await eventually(rest_recovered, timeout=RECOVERY_SECONDS, interval=0.2)
        recovered_at = time.monotonic()
        print(f"recovered {recovered_at - started_at:.2f}s after PostgreSQL started")

        await asyncio.sleep(1)  # the load runs on the recovered pool for a while
        loading = False
        await asyncio.gather(*workers)

        # The same processes throughout.
        assert core.process.poll() is None and gateway.process.poll() is None
        assert (core.process.pid, gateway.process.pid) == pids

        seen = Counter(o.status for o in outcomes)
        print(f"load outcomes {dict(seen)}")
        assert set(seen) <= {"OK", "UNAVAILABLE"}, seen
        assert seen["UNAVAILABLE"] >= 1, seen
        late = [o for o in outcomes if o.started_at > recovered_at and o.status != "OK"]
        assert late == [], late
        acknowledged = [uuid.UUID(o.booking_id) for o in outcomes if o.booking_id]
        stored = await fetchval(
            database_url,
            "SELECT count(*) FROM bookings WHERE id = ANY($1::uuid[])",
            acknowledged,
        )
        assert stored == len(acknowledged)
        orphans = await fetchval(
            database_url,
            """SELECT count(*) FROM bookings b
               WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.booking_id = b.id)
                  OR NOT EXISTS (SELECT 1 FROM reminders r WHERE r.booking_id = b.id)""",
        )
        assert orphans == 0

        async def all_published() -> bool:
            pending = await fetchval(
                database_url, "SELECT count(*) FROM events WHERE published_at IS NULL"
            )
            return bool(pending == 0)

        await eventually(all_published, timeout=RECOVERY_SECONDS, interval=0.2)

        # The reminder scheduler works again: a reminder due now is handed to dramatiq.
        start = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS + 1)
        due_soon = await stub.create_booking(
            pb.CreateBookingRequest(
                actor=SERVICE,
                provider_id=provider,
                customer_id=customer,
                start_time=start,
                end_time=start + timedelta(minutes=10),
            )
        )
        assert due_soon.booking is not None
        due_soon_id = uuid.UUID(due_soon.booking.id)

        async def enqueued() -> bool:
            rows = await fetch(
                database_url, "SELECT state FROM reminders WHERE booking_id = $1", due_soon_id
            )
            return bool(rows[0]["state"] == "enqueued")

        await eventually(enqueued, timeout=RECOVERY_SECONDS)
        for log in (core.log_path, gateway.log_path):
            assert "Traceback" not in log.read_text(), tail(log)
        # The outbox's writes that met the shutdown are short lines the relay retries.
        outbox = [
            line
            for line in map(json.loads, core.log_path.read_text().splitlines())
            if line["event"].startswith("outbox.") and "error" in line
        ]
        assert all(len(line["error"]) <= 200 for line in outbox), outbox
        assert '"status": 500' not in gateway.log_path.read_text()
    finally:
        await session.close()
        channel.close()
        gateway.terminate()
        core.terminate()
