"""Events reach Redis ``bookings.events`` after commit, and catch up after a Redis outage."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from bookings_common.events import CHANNEL, EventEnvelope
from bookings_common.grpc import create_channel
from bookings_common.settings import asyncpg_url
from bookings_proto.bookings import v1 as pb
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .conftest import REDIS_URL, SERVICE, fresh_database
from .harness import INTERNAL_TOKEN, CoreProcess, RedisProcess, TcpProxy, eventually, in_future

pytestmark = pytest.mark.integration


class Subscriber:
    """Collects every message on ``bookings.events`` in arrival order."""

    def __init__(self, url: str) -> None:
        self.redis = Redis.from_url(url)
        self.pubsub = self.redis.pubsub()
        self.messages: list[dict[str, Any]] = []

    async def __aenter__(self) -> Subscriber:
        await self.pubsub.subscribe(CHANNEL)
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] == "message":
                self.messages.append(json.loads(message["data"]))

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.pubsub.aclose()
        await self.redis.aclose()

    def for_provider(self, provider_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["data"]["providerId"] == provider_id]


async def test_created_event_is_published_with_the_contract_envelope(
    stub: pb.BookingServiceStub, provider: pb.Provider, customer: pb.Customer, engine: AsyncEngine
) -> None:
    async with Subscriber(REDIS_URL) as subscriber:
        start = in_future(days=1)
        booking = (
            await stub.create_booking(
                pb.CreateBookingRequest(
                    actor=SERVICE,
                    provider_id=provider.id,
                    customer_id=customer.id,
                    start_time=start,
                    end_time=start + timedelta(hours=1),
                )
            )
        ).booking
        assert booking is not None

        async def published() -> list[dict[str, Any]]:
            return subscriber.for_provider(provider.id)

        (message,) = await eventually(published)
    assert set(message) == {"id", "type", "occurredAt", "data"}
    assert message["type"] == "booking.created" and message["id"].isdigit()
    assert message["occurredAt"].endswith("Z")
    assert message["data"] == {
        "bookingId": booking.id,
        "providerId": provider.id,
        "customerId": customer.id,
        "startTime": message["data"]["startTime"],
        "endTime": message["data"]["endTime"],
        "status": "confirmed",
    }
    assert EventEnvelope.from_json(json.dumps(message)).id == int(message["id"])

    async def marked() -> bool:
        async with engine.connect() as conn:
            return bool(
                await conn.scalar(
                    sa.text("SELECT published_at IS NOT NULL FROM events WHERE id = :id"),
                    {"id": int(message["id"])},
                )
            )

    await eventually(marked)


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    redis = RedisProcess(tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
async def private_database() -> AsyncIterator[str]:
    """A database of its own: the shared booking-core would otherwise relay these
    events (it competes for the relay lock on the same database) to another Redis."""
    async with fresh_database() as url:
        yield url


async def test_bookings_succeed_while_redis_is_unreachable_and_events_follow_in_order(
    private_database: str, log_dir: Path, private_redis: RedisProcess
) -> None:
    database_url = private_database
    engine = create_async_engine(asyncpg_url(database_url))
    # booking-core reaches this Redis only through a proxy we can cut; the
    # test's own subscriber stays connected, so nothing it should see is lost.
    proxy = TcpProxy("127.0.0.1", private_redis.port)
    await proxy.start()
    core = CoreProcess(
        database_url, f"redis://127.0.0.1:{proxy.port}/0", log_dir / "core-outbox.log"
    )
    await core.start()
    channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
    stub = pb.BookingServiceStub(channel, timeout=10)
    try:
        provider = (
            await stub.register_provider(pb.RegisterProviderRequest(actor=SERVICE, name="Outage"))
        ).provider
        customer = (
            await stub.register_customer(
                pb.RegisterCustomerRequest(
                    actor=SERVICE, name="C", email=f"outage-{core.port}@example.com"
                )
            )
        ).customer
        assert provider is not None and customer is not None
        async with Subscriber(private_redis.url) as subscriber:
            await proxy.cut()
            start = in_future(days=2)
            for i in range(20):
                reply = await stub.create_booking(
                    pb.CreateBookingRequest(
                        actor=SERVICE,
                        provider_id=provider.id,
                        customer_id=customer.id,
                        start_time=start + timedelta(hours=i),
                        end_time=start + timedelta(hours=i, minutes=30),
                    )
                )
                assert reply.booking is not None
            await asyncio.sleep(1.0)  # the relay keeps failing meanwhile
            assert subscriber.for_provider(provider.id) == []

            await proxy.restore()

            async def all_arrived() -> bool:
                return len({m["id"] for m in subscriber.for_provider(provider.id)}) == 20

            await eventually(all_arrived, timeout=15)
            received = subscriber.for_provider(provider.id)

        async def marked() -> list[Any]:
            # The relay commits its marks just after its publish reaches Redis.
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        sa.text(
                            "SELECT id, published_at FROM events WHERE provider_id = :p ORDER BY id"
                        ),
                        {"p": provider.id},
                    )
                ).all()
            return rows if all(row.published_at is not None for row in rows) else []

        logged = await eventually(marked, timeout=10)
        ids = [int(m["id"]) for m in received]
        assert ids == sorted(ids), "events arrived out of id order"
        assert list(dict.fromkeys(ids)) == [row.id for row in logged]
        assert any('"outbox.relayed"' in line for line in core.log_lines())
    finally:
        channel.close()
        assert core.terminate() == 0
        await proxy.cut()
        await engine.dispose()
