"""Capacity and the other guarantees under concurrent guests, decided by PostgreSQL:
exactly ``capacity`` places per slot, one place per email, one booking per
idempotency key, and never a 1:1 booking overlapping a booked slot."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from bookings_proto.bookings import v1 as pb
from gateway.app import create_app as create_gateway
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import gateway_settings, new_customer
from .harness import CoreProcess, make_token
from .test_event_types import create_event_type, guest, new_provider, slots

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway(core: CoreProcess, aiohttp_client: Any) -> Any:
    settings = gateway_settings(core, public_booking_rate_limit_per_minute=1_000_000)
    return await aiohttp_client(create_gateway(settings))


async def post_booking(
    gateway: Any, slug: str, body: dict[str, Any], **headers: str
) -> tuple[int, Any]:
    response = await gateway.post(
        f"/public/event-types/{slug}/bookings", json=body, headers=headers
    )
    return response.status, await response.json()


async def test_200_guests_for_5_places_give_exactly_5_bookings(
    gateway: Any, stub: pb.BookingServiceStub, engine: AsyncEngine
) -> None:
    provider_id = await new_provider(stub)
    event_type = await create_event_type(gateway, provider_id, capacity=5)
    slot = (await slots(gateway, event_type["slug"]))[0]
    results = await asyncio.gather(
        *(
            post_booking(gateway, event_type["slug"], {"slotStart": slot["start"], **guest()})
            for _ in range(200)
        )
    )
    statuses = Counter(status for status, _ in results)
    codes = Counter(body.get("code") for status, body in results if status != 201)
    assert statuses == {201: 5, 409: 195}, statuses
    assert codes == {"SLOT_FULL": 195}
    start = datetime.fromisoformat(slot["start"])
    async with engine.connect() as conn:
        active = await conn.scalar(
            sa.text(
                "SELECT count(*) FROM bookings WHERE event_type_id = :et AND start_time = :s "
                "AND status IN ('pending', 'held', 'confirmed')"
            ),
            {"et": event_type["id"], "s": start},
        )
        booked = await conn.scalar(
            sa.text("SELECT booked FROM slot_occupancy WHERE event_type_id = :et"),
            {"et": event_type["id"]},
        )
        remaining = (
            (
                await conn.execute(
                    sa.text(
                        "SELECT (payload->>'remaining')::int FROM events "
                        "WHERE channel = :c ORDER BY id"
                    ),
                    {"c": f"event-type:{event_type['slug']}"},
                )
            )
            .scalars()
            .all()
        )
    assert active == booked == 5
    # Events follow commit order, and commits follow the slot's lock: 4, 3, 2, 1, 0.
    assert remaining == [4, 3, 2, 1, 0]
    assert (await slots(gateway, event_type["slug"]))[0]["start"] != slot["start"]


async def test_one_email_racing_for_one_slot_gets_one_place(
    gateway: Any, stub: pb.BookingServiceStub
) -> None:
    provider_id = await new_provider(stub)
    event_type = await create_event_type(gateway, provider_id, capacity=50)
    slot = (await slots(gateway, event_type["slug"]))[0]
    body = {"slotStart": slot["start"], **guest()}
    results = await asyncio.gather(
        *(post_booking(gateway, event_type["slug"], body) for _ in range(30))
    )
    assert Counter(status for status, _ in results) == {201: 1, 409: 29}
    assert {body["code"] for status, body in results if status == 409} == {"GUEST_ALREADY_BOOKED"}
    assert (await slots(gateway, event_type["slug"]))[0]["remaining"] == 49


async def test_one_idempotency_key_racing_gives_one_booking_and_replays(
    gateway: Any, stub: pb.BookingServiceStub
) -> None:
    provider_id = await new_provider(stub)
    event_type = await create_event_type(gateway, provider_id, capacity=50)
    slot = (await slots(gateway, event_type["slug"]))[0]
    body = {"slotStart": slot["start"], **guest()}
    key = f"race-{uuid.uuid4()}"
    results = await asyncio.gather(
        *(
            post_booking(gateway, event_type["slug"], body, **{"Idempotency-Key": key})
            for _ in range(30)
        )
    )
    statuses = Counter(status for status, _ in results)
    # One creates; each other one replays it or, while it is in flight, is told so.
    assert statuses[201] == 1 and statuses[200] + statuses[409] == 29, statuses
    assert {body["code"] for status, body in results if status == 409} <= {
        "IDEMPOTENCY_IN_PROGRESS"
    }
    done = [body for status, body in results if status in (200, 201)]
    assert len({body["bookingId"] for body in done}) == 1
    assert len({body["manageUrl"] for body in done}) == 1
    assert (await slots(gateway, event_type["slug"]))[0]["remaining"] == 49


async def test_one_to_one_bookings_and_slot_places_racing_never_overlap(
    gateway: Any, stub: pb.BookingServiceStub, engine: AsyncEngine
) -> None:
    provider_id = await new_provider(stub)
    event_type = await create_event_type(gateway, provider_id, capacity=10, bufferAfterMinutes=10)
    slot = (await slots(gateway, event_type["slug"]))[0]
    start = datetime.fromisoformat(slot["start"]).astimezone(UTC)
    customers = [await new_customer(stub) for _ in range(20)]

    async def one_to_one(customer: pb.Customer, offset: int) -> int:
        begin = start + timedelta(minutes=offset)
        response = await gateway.post(
            "/bookings",
            json={
                "providerId": provider_id,
                "customerId": customer.id,
                "startTime": begin.isoformat(),
                "endTime": (begin + timedelta(minutes=5)).isoformat(),
            },
            headers={"Authorization": f"Bearer {make_token('customer', customer.id)}"},
        )
        return response.status

    guests = [
        post_booking(gateway, event_type["slug"], {"slotStart": slot["start"], **guest()})
        for _ in range(20)
    ]
    # Offsets inside the slot and inside its 10-minute buffer after it.
    direct = [one_to_one(c, 5 * (i % 14)) for i, c in enumerate(customers)]
    results = await asyncio.gather(*guests, *direct)
    assert all((r[0] if isinstance(r, tuple) else r) in (200, 201, 409) for r in results), results
    async with engine.connect() as conn:
        overlaps = await conn.scalar(
            sa.text(
                """
                SELECT count(*) FROM bookings a JOIN bookings b
                  ON a.provider_id = b.provider_id AND a.id < b.id
                 AND COALESCE(a.slot_id, a.id) <> COALESCE(b.slot_id, b.id)
                 AND tstzrange(COALESCE(a.busy_start, a.start_time),
                               COALESCE(a.busy_end, a.end_time), '[)')
                  && tstzrange(COALESCE(b.busy_start, b.start_time),
                               COALESCE(b.busy_end, b.end_time), '[)')
                WHERE a.provider_id = :p
                  AND a.status = 'confirmed' AND b.status = 'confirmed'
                """
            ),
            {"p": provider_id},
        )
        places = await conn.scalar(
            sa.text(
                "SELECT count(*) FROM bookings WHERE event_type_id = :et AND status = 'confirmed'"
            ),
            {"et": event_type["id"]},
        )
        booked = await conn.scalar(
            sa.text(
                "SELECT COALESCE(sum(booked), 0) FROM slot_occupancy WHERE event_type_id = :et"
            ),
            {"et": event_type["id"]},
        )
    assert overlaps == 0
    assert places == booked
    guest_wins = sum(1 for r in results[:20] if isinstance(r, tuple) and r[0] == 201)
    direct_wins = sum(1 for r in results[20:] if r == 201)
    assert guest_wins == places
    # Whoever commits first makes the other side overlap: the slot got places and no 1:1
    # booking landed in it, or the other way round.
    assert (guest_wins == 0) != (direct_wins == 0)
