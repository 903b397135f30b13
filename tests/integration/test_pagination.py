"""Keyset pagination over 250 bookings, upcoming (ascending) and past (descending)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from bookings_proto.bookings import v1 as pb
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import SERVICE
from .harness import in_future

pytestmark = pytest.mark.integration
COUNT = 250


async def walk(
    stub: pb.BookingServiceStub, actor: pb.Actor, list_type: pb.ListType, limit: int
) -> list[pb.Booking]:
    seen: list[pb.Booking] = []
    cursor = ""
    for _ in range(COUNT):  # bounded: a loop in the cursors must not hang the test
        page = await stub.list_bookings(
            pb.ListBookingsRequest(actor=actor, type=list_type, cursor=cursor, limit=limit)
        )
        assert len(page.bookings) <= limit
        seen.extend(page.bookings)
        cursor = page.next_cursor
        if not cursor:
            return seen
    raise AssertionError("pagination did not end")


@pytest.fixture
async def calendar(
    stub: pb.BookingServiceStub, provider: pb.Provider, customer: pb.Customer, engine: AsyncEngine
) -> tuple[list[str], list[str]]:
    """250 upcoming bookings made through booking-core, and 250 past ones written
    directly (booking-core refuses to create past bookings; past bookings may
    be cancelled, so they can share start times, which exercises the id
    tie-breaker). Returns both id lists in the order the API must return them."""
    base = in_future(days=30).replace(microsecond=123456)

    async def book(i: int) -> pb.Booking:
        start = base + timedelta(hours=i)
        reply = await stub.create_booking(
            pb.CreateBookingRequest(
                actor=SERVICE,
                provider_id=provider.id,
                customer_id=customer.id,
                start_time=start,
                end_time=start + timedelta(minutes=30),
            )
        )
        assert reply.booking is not None
        return reply.booking

    upcoming: list[pb.Booking] = []
    for chunk in range(0, COUNT, 50):
        upcoming += await asyncio.gather(*(book(i) for i in range(chunk, min(chunk + 50, COUNT))))
    upcoming_ids = [b.id for b in sorted(upcoming, key=lambda b: (b.start_time, uuid.UUID(b.id)))]

    now = datetime.now(UTC)
    past_rows = [
        {
            "id": uuid.uuid4(),
            # groups of five share one start time: ordering falls back to the id
            "start": now - timedelta(days=1, hours=i // 5),
        }
        for i in range(COUNT)
    ]
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO bookings (id, provider_id, customer_id, start_time, end_time, status)"
                " VALUES (:id, :p, :c, CAST(:start AS timestamptz),"
                " CAST(:start AS timestamptz) + interval '30 minutes', 'cancelled')"
            ),
            [
                {"id": r["id"], "p": provider.id, "c": customer.id, "start": r["start"]}
                for r in past_rows
            ],
        )
    past_ids = [
        str(r["id"]) for r in sorted(past_rows, key=lambda r: (r["start"], r["id"]), reverse=True)
    ]
    return upcoming_ids, past_ids


@pytest.mark.parametrize("limit", [1, 17, 100])
async def test_every_booking_exactly_once_in_order(
    stub: pb.BookingServiceStub,
    provider: pb.Provider,
    customer: pb.Customer,
    calendar: tuple[list[str], list[str]],
    limit: int,
) -> None:
    upcoming_ids, past_ids = calendar
    for actor in (pb.Actor(customer_id=customer.id), pb.Actor(provider_id=provider.id)):
        assert [b.id for b in await walk(stub, actor, pb.ListType.UPCOMING, limit)] == upcoming_ids
        assert [b.id for b in await walk(stub, actor, pb.ListType.PAST, limit)] == past_ids


async def test_forged_and_foreign_cursors_are_rejected(
    stub: pb.BookingServiceStub,
    provider: pb.Provider,
    customer: pb.Customer,
    calendar: tuple[list[str], list[str]],
) -> None:
    actor = pb.Actor(customer_id=customer.id)
    page = await stub.list_bookings(
        pb.ListBookingsRequest(actor=actor, type=pb.ListType.UPCOMING, limit=10)
    )
    cursor = page.next_cursor
    assert cursor
    payload, mac = cursor.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    forged = [
        f"{flipped}.{mac}",
        f"{payload}.{mac[::-1]}",
        "not-a-cursor",
        cursor + "x",
    ]
    for bad in forged:
        with pytest.raises(GRPCError) as info:
            await stub.list_bookings(
                pb.ListBookingsRequest(actor=actor, type=pb.ListType.UPCOMING, cursor=bad)
            )
        assert info.value.status is Status.INVALID_ARGUMENT
    # A genuine cursor used on another list: the other list type, or another owner.
    for request in (
        pb.ListBookingsRequest(actor=actor, type=pb.ListType.PAST, cursor=cursor),
        pb.ListBookingsRequest(
            actor=pb.Actor(provider_id=provider.id), type=pb.ListType.UPCOMING, cursor=cursor
        ),
    ):
        with pytest.raises(GRPCError) as info:
            await stub.list_bookings(request)
        assert info.value.status is Status.INVALID_ARGUMENT
        assert info.value.message == "cursor: belongs to another list"
