"""Payments end to end: booking-core (two replicas for the expiry test), payment-service
started with the ``dramatiq`` command and its mock provider, a private Redis this
module stops and restarts: success, failure, expiry, a payment after expiry (refund),
duplicate outcome messages, payment-service killed mid-payment, Redis down."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from bookings_common.grpc import create_channel
from bookings_common.jobs import OUTCOME_ACTOR, OUTCOMES_QUEUE
from bookings_proto.bookings import v1 as pb
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from grpclib.client import Channel
from grpclib.exceptions import GRPCError
from redis.asyncio import Redis

from .conftest import fresh_database
from .harness import INTERNAL_TOKEN, CoreProcess, PaymentServiceProcess, RedisProcess, eventually
from .test_ticketing import Catalog, buyer, catalog

pytestmark = pytest.mark.integration

HOLD_SECONDS = 6
CORE_ENV = {
    "HOLD_TTL_SECONDS": str(HOLD_SECONDS),
    "TICKET_EXPIRY_INTERVAL_SECONDS": "0.1",
    "PAYMENT_DISPATCH_INTERVAL_SECONDS": "0.5",
    "PAYMENT_REDELIVERY_SECONDS": "2",
    "OUTBOX_RELAY_MIN_AGE_SECONDS": "1",
}
SUCCEEDS, DECLINED = "4242424242424242", "4000000000000002"


@dataclass
class Stack:
    database_url: str
    redis: RedisProcess
    core: CoreProcess
    payments: PaymentServiceProcess
    channel: Channel
    log_dir: Path

    @property
    def tickets(self) -> pb.TicketingServiceStub:
        return pb.TicketingServiceStub(self.channel, timeout=20)

    async def hold(self, shop: Catalog, *seats: int) -> pb.TicketBookingResponse:
        return await self.tickets.hold_seats(
            pb.HoldSeatsRequest(
                actor=pb.Actor(guest=True),
                event_id=shop.event.id,
                seat_ids=[shop.seats[i].id for i in seats],
                buyer=buyer(),
            )
        )

    async def pay(self, held: pb.TicketBookingResponse, method: str) -> pb.TicketBooking:
        assert held.booking is not None
        reply = await self.tickets.pay_ticket_booking(
            pb.PayTicketBookingRequest(
                actor=pb.Actor(guest=True),
                booking_id=held.booking.id,
                manage_token=held.manage_token,
                payment_method=method,
            )
        )
        assert reply.booking is not None
        return reply.booking

    async def booking(self, held: pb.TicketBookingResponse) -> pb.TicketBooking:
        assert held.booking is not None
        reply = await self.tickets.get_ticket_booking(
            pb.GetTicketBookingRequest(
                actor=pb.Actor(guest=True),
                booking_id=held.booking.id,
                manage_token=held.manage_token,
            )
        )
        assert reply.booking is not None
        return reply.booking

    async def settled(
        self, held: pb.TicketBookingResponse, predicate: Any, within: float = 30
    ) -> pb.TicketBooking:
        async def check() -> pb.TicketBooking | None:
            booking = await self.booking(held)
            return booking if predicate(booking) else None

        return await eventually(check, timeout=within, interval=0.1)

    async def seat_states(self, shop: Catalog) -> dict[str, pb.SeatState]:
        seats = (
            await self.tickets.list_event_seats(
                pb.ListEventSeatsRequest(actor=pb.Actor(guest=True), event_id=shop.event.id)
            )
        ).seats
        return {s.seat.id: s.state for s in seats if s.seat}

    async def counter(self, key: str) -> int:
        redis = Redis.from_url(self.redis.url)
        try:
            return int(await redis.get(key) or 0)
        finally:
            await redis.aclose()

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    log_dir = tmp_path_factory.mktemp("payments")
    async with fresh_database() as database_url:
        redis = RedisProcess(log_dir)
        redis.start()
        core = CoreProcess(database_url, redis.url, log_dir / "core.log", **CORE_ENV)
        await core.start()
        payments = PaymentServiceProcess(
            redis.url,
            log_dir / "payments.log",
            MOCK_PAYMENT_LATENCY_MS="200",
            PAYMENT_RETRY_MAX_BACKOFF_SECONDS="1",
        )
        await payments.start()
        channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
        try:
            yield Stack(database_url, redis, core, payments, channel, log_dir)
        finally:
            channel.close()
            payments.stop()
            core.terminate()
            redis.stop()


async def test_a_successful_payment_confirms_and_sells_the_seats(stack: Stack) -> None:
    shop = await catalog(stack.channel, seats=4)
    held = await stack.hold(shop, 0, 1)
    charges = await stack.counter("mockpay:charges_created")
    asked = await stack.pay(held, SUCCEEDS)
    assert asked.payment_state == pb.PaymentState.REQUESTED
    again = await stack.pay(held, SUCCEEDS)  # asking twice changes nothing
    assert again.payment_state == pb.PaymentState.REQUESTED and again.version == asked.version
    done = await stack.settled(held, lambda b: b.status == pb.TicketBookingStatus.CONFIRMED)
    assert done.payment_state == pb.PaymentState.SUCCEEDED
    assert len(done.ticket_reference) == 8 and done.confirmed_at is not None
    assert await stack.counter("mockpay:charges_created") == charges + 1
    states = await stack.seat_states(shop)
    assert [states[shop.seats[i].id] for i in range(4)] == [
        pb.SeatState.SOLD,
        pb.SeatState.SOLD,
        pb.SeatState.AVAILABLE,
        pb.SeatState.AVAILABLE,
    ]
    assert held.booking is not None
    events = await stack.fetch(
        "SELECT type, channel, payload FROM events WHERE booking_id = $1 ORDER BY id",
        uuid.UUID(held.booking.id),
    )
    assert [(e["type"], e["channel"] is not None) for e in events] == [
        ("booking.held", False),
        ("seat.availability", True),
        ("booking.confirmed", False),
        ("seat.availability", True),
    ]
    sold = json.loads(events[3]["payload"])
    assert {s["state"] for s in sold["seats"]} == {"sold"} and len(sold["seats"]) == 2
    assert "buyer" not in json.dumps(sold) and "@" not in json.dumps(sold)


async def test_a_declined_card_cancels_and_releases_the_seats(stack: Stack) -> None:
    shop = await catalog(stack.channel, seats=2)
    held = await stack.hold(shop, 0, 1)
    await stack.pay(held, DECLINED)
    done = await stack.settled(held, lambda b: b.status == pb.TicketBookingStatus.CANCELLED)
    assert done.payment_state == pb.PaymentState.FAILED
    assert done.payment_failure_code == "card_declined"
    assert done.cancel_reason == "payment failed: card_declined"
    assert set((await stack.seat_states(shop)).values()) == {pb.SeatState.AVAILABLE}
    again = await stack.hold(shop, 0, 1)  # released: someone else may buy them
    assert again.booking is not None and again.booking.status == pb.TicketBookingStatus.PENDING


async def test_a_hold_expires_and_its_seats_come_back(stack: Stack) -> None:
    shop = await catalog(stack.channel, seats=1)
    held = await stack.hold(shop, 0)
    assert (await stack.seat_states(shop))[shop.seats[0].id] == pb.SeatState.HELD
    done = await stack.settled(
        held, lambda b: b.status == pb.TicketBookingStatus.EXPIRED, within=HOLD_SECONDS + 10
    )
    assert done.expired_at is not None and done.expires_at is not None
    assert done.expired_at >= done.expires_at
    assert (await stack.seat_states(shop))[shop.seats[0].id] == pb.SeatState.AVAILABLE
    assert held.booking is not None
    types = [
        r["type"]
        for r in await stack.fetch(
            "SELECT type FROM events WHERE booking_id = $1 ORDER BY id", uuid.UUID(held.booking.id)
        )
    ]
    assert types == ["booking.held", "seat.availability", "booking.expired", "seat.availability"]
    with pytest.raises(GRPCError, match=r"cannot be paid"):
        await stack.pay(held, SUCCEEDS)


async def test_a_payment_that_succeeds_after_expiry_is_refunded_not_confirmed(
    stack: Stack,
) -> None:
    shop = await catalog(stack.channel, seats=1)
    held = await stack.hold(shop, 0)
    assert stack.payments.process is not None
    os.killpg(stack.payments.process.pid, signal.SIGSTOP)  # the provider is slow today
    try:
        await stack.pay(held, SUCCEEDS)
        await stack.settled(
            held, lambda b: b.status == pb.TicketBookingStatus.EXPIRED, within=HOLD_SECONDS + 10
        )
        refunds = await stack.counter("mockpay:refunds_created")
    finally:
        os.killpg(stack.payments.process.pid, signal.SIGCONT)
    done = await stack.settled(held, lambda b: b.payment_state == pb.PaymentState.REFUNDED)
    assert done.status == pb.TicketBookingStatus.EXPIRED
    assert done.late_payment is True and done.ticket_reference == ""
    assert await stack.counter("mockpay:refunds_created") == refunds + 1
    assert held.booking is not None
    requests = await stack.fetch(
        "SELECT kind, state FROM payment_requests WHERE booking_id = $1 ORDER BY created_at",
        uuid.UUID(held.booking.id),
    )
    assert [(r["kind"], r["state"]) for r in requests] == [
        ("charge", "resolved"),
        ("refund", "resolved"),
    ]
    assert (await stack.seat_states(shop))[shop.seats[0].id] == pb.SeatState.AVAILABLE


async def test_duplicate_outcome_messages_are_applied_once(stack: Stack) -> None:
    shop = await catalog(stack.channel, seats=1)
    held = await stack.hold(shop, 0)
    assert held.booking is not None
    outcome = {
        "messageId": str(uuid.uuid4()),
        "kind": "charge",
        "bookingId": held.booking.id,
        "idempotencyKey": f"charge:{held.booking.id}",
        "status": "succeeded",
        "chargeId": "ch_mock_duplicate_test",
        "failureCode": None,
        "failureMessage": None,
    }
    broker = RedisBroker(url=stack.redis.url, middleware=[])  # type: ignore[no-untyped-call]
    try:
        unknown = {**outcome, "messageId": str(uuid.uuid4()), "bookingId": str(uuid.uuid4())}
        for body in (outcome, outcome, unknown, {"junk": 1}):
            message: Message[None] = Message(
                queue_name=OUTCOMES_QUEUE,
                actor_name=OUTCOME_ACTOR,
                args=(body,),
                kwargs={},
                options={},
            )
            await asyncio.to_thread(broker.enqueue, message)
    finally:
        broker.close()
    done = await stack.settled(held, lambda b: b.status == pb.TicketBookingStatus.CONFIRMED)

    async def both_seen() -> bool:
        rows = await stack.fetch(
            "SELECT count(*) AS n FROM processed_messages WHERE message_id = $1",
            uuid.UUID(outcome["messageId"]),
        )
        return rows[0]["n"] == 1

    await eventually(both_seen)
    await asyncio.sleep(1.0)  # the duplicate has had its chance
    assert (await stack.booking(held)).version == done.version
    confirmed = await stack.fetch(
        "SELECT count(*) AS n FROM events WHERE booking_id = $1 AND type = 'booking.confirmed'",
        uuid.UUID(held.booking.id),
    )
    assert confirmed[0]["n"] == 1
    log = stack.core.log_path.read_text()
    assert "payments.duplicate_outcome" in log
    assert "payments.unknown_booking" in log and "payments.malformed_outcome" in log


async def test_payment_service_killed_mid_payment_charges_once_and_resolves(
    stack: Stack,
) -> None:
    shop = await catalog(stack.channel, seats=1)
    held = await stack.hold(shop, 0)
    assert held.booking is not None
    key = f"charge:charge:{held.booking.id}"
    charges = await stack.counter("mockpay:charges_created")
    redis = Redis.from_url(stack.redis.url)
    try:
        await stack.pay(held, SUCCEEDS)

        async def charged() -> bool:  # the provider has made the charge ...
            return bool(await redis.hexists("mockpay:results", key))

        await eventually(charged, timeout=10, interval=0.005)
        assert stack.payments.kill_group() == -signal.SIGKILL  # ... and the service dies
    finally:
        await redis.aclose()
    await stack.payments.start()
    done = await stack.settled(held, lambda b: b.status == pb.TicketBookingStatus.CONFIRMED)
    assert done.payment_state == pb.PaymentState.SUCCEEDED
    assert await stack.counter("mockpay:charges_created") == charges + 1


async def test_redis_down_during_payment_is_resolved_once_it_returns(stack: Stack) -> None:
    shop = await catalog(stack.channel, seats=1)
    held = await stack.hold(shop, 0)
    stack.redis.stop()
    try:
        asked = await stack.pay(held, SUCCEEDS)  # PostgreSQL keeps the request
        assert asked.payment_state == pb.PaymentState.REQUESTED
        await asyncio.sleep(1.5)
        assert (await stack.booking(held)).status == pb.TicketBookingStatus.PENDING
    finally:
        stack.redis.start()
    done = await stack.settled(held, lambda b: b.status == pb.TicketBookingStatus.CONFIRMED)
    assert done.payment_state == pb.PaymentState.SUCCEEDED


async def test_two_replicas_expire_each_hold_once(stack: Stack) -> None:
    second = CoreProcess(
        stack.database_url, stack.redis.url, stack.log_dir / "core-2.log", **CORE_ENV
    )
    await second.start()
    try:
        shop = await catalog(stack.channel, seats=40)
        helds = await asyncio.gather(*(stack.hold(shop, i) for i in range(40)))
        ids = [uuid.UUID(h.booking.id) for h in helds if h.booking is not None]

        async def all_expired() -> bool:
            rows = await stack.fetch(
                "SELECT count(*) AS n FROM ticket_bookings WHERE id = ANY($1) "
                "AND status = 'expired'",
                ids,
            )
            return rows[0]["n"] == len(ids)

        await eventually(all_expired, timeout=HOLD_SECONDS + 15, interval=0.2)
        expired = await stack.fetch(
            "SELECT booking_id, count(*) AS n FROM events WHERE booking_id = ANY($1) "
            "AND type = 'booking.expired' GROUP BY booking_id",
            ids,
        )
        assert len(expired) == len(ids) and {r["n"] for r in expired} == {1}
        assert set((await stack.seat_states(shop)).values()) == {pb.SeatState.AVAILABLE}
        both = [
            "tickets.expired" in (stack.log_dir / name).read_text()
            for name in ("core.log", "core-2.log")
        ]
        assert any(both)
    finally:
        second.terminate()
