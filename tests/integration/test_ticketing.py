"""Ticketing against the real booking-core, PostgreSQL and gateway: the catalog and its
authorisation, holds and their rules, guests' manage tokens, and 500 concurrent holds
over ten seats decided by the database."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from bookings_proto.bookings import v1 as pb
from gateway.app import create_app as create_gateway
from grpclib.exceptions import GRPCError
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import SERVICE, gateway_settings
from .harness import CoreProcess, make_token
from .test_identity import bearer, login, new_organisation, new_user

pytestmark = pytest.mark.integration


@dataclass
class Catalog:
    organisation_id: str
    admin: pb.Actor
    venue: pb.Venue
    seats: list[pb.Seat]
    event: pb.TicketedEvent


async def catalog(
    channel: Any,
    *,
    seats: int = 10,
    prices: dict[str, int] | None = None,
    categories: tuple[str, ...] = ("front",),
    sales_open: bool = True,
    organisation_id: str | None = None,
) -> Catalog:
    """An organisation with a venue of ``seats`` seats (in row A, categories cycling) and
    an event on sale (unless told otherwise) pricing them."""
    stub = pb.TicketingServiceStub(channel, timeout=30)
    organisation_id = organisation_id or await new_organisation(channel, "Hall")
    admin = pb.Actor(admin_organisation_id=organisation_id)
    venue = (
        await stub.create_venue(
            pb.CreateVenueRequest(
                actor=admin,
                spec=pb.VenueSpec(name="Town Hall", address="Market 1", time_zone="Europe/Berlin"),
            )
        )
    ).venue
    assert venue is not None
    added = (
        await stub.add_seats(
            pb.AddSeatsRequest(
                actor=admin,
                venue_id=venue.id,
                seats=[
                    pb.SeatSpec(
                        section="Stalls",
                        row="A",
                        number=str(n),
                        category=categories[(n - 1) % len(categories)],
                    )
                    for n in range(1, seats + 1)
                ],
            )
        )
    ).seats
    now = datetime.now(UTC)
    opens = now - timedelta(hours=1) if sales_open else now + timedelta(days=1)
    event = (
        await stub.create_ticketed_event(
            pb.CreateTicketedEventRequest(
                actor=admin,
                spec=pb.TicketedEventSpec(
                    venue_id=venue.id,
                    name="Winter concert",
                    starts_at=now + timedelta(days=10),
                    ends_at=now + timedelta(days=10, hours=2),
                    sales_open_at=opens,
                    sales_close_at=now + timedelta(days=9),
                    currency="EUR",
                    prices=[
                        pb.Price(category=c, amount_minor=a)
                        for c, a in (prices or {"front": 4500}).items()
                    ],
                ),
            )
        )
    ).event
    assert event is not None
    return Catalog(organisation_id, admin, venue, added, event)


def buyer(name: str = "Ada Lovelace") -> pb.Buyer:
    return pb.Buyer(name=name, email=f"buyer.{uuid.uuid4().hex[:10]}@example.com")


async def test_500_concurrent_holds_over_ten_seats_never_share_a_seat(
    channel: Any, engine: AsyncEngine
) -> None:
    shop = await catalog(channel)
    stub = pb.TicketingServiceStub(channel, timeout=60)
    rng = random.Random(20261202)
    requests = [rng.sample([s.id for s in shop.seats], rng.randint(1, 3)) for _ in range(500)]

    async def hold(seat_ids: list[str]) -> tuple[list[str], pb.TicketBooking | None, list[str]]:
        try:
            reply = await stub.hold_seats(
                pb.HoldSeatsRequest(
                    actor=pb.Actor(guest=True),
                    event_id=shop.event.id,
                    seat_ids=seat_ids,
                    buyer=buyer(),
                )
            )
        except GRPCError as exc:
            details = exc.details or []
            (info,) = [d for d in details if getattr(d, "reason", "") == "SEAT_UNAVAILABLE"]
            return seat_ids, None, info.metadata["seatIds"].split(",")
        return seat_ids, reply.booking, []

    results = await asyncio.gather(*(hold(r) for r in requests))
    won = [(asked, booking) for asked, booking, _ in results if booking is not None]
    refused = [(asked, taken) for asked, booking, taken in results if booking is None]
    assert len(won) + len(refused) == 500
    assert won and refused
    taken_by: dict[str, str] = {}
    for asked, booking in won:
        assert booking is not None
        assert sorted(i.seat.id for i in booking.items) == sorted(asked)  # whole, never partial
        for seat_id in asked:
            assert seat_id not in taken_by, "a seat in two bookings"
            taken_by[seat_id] = booking.id
    for asked, taken in refused:
        # Every seat a 409 names was asked for and is truly in a winning booking.
        assert taken and set(taken) <= set(asked)
        assert all(seat_id in taken_by for seat_id in taken)
    async with engine.connect() as conn:
        doubled = (
            await conn.execute(
                sa.text(
                    "SELECT seat_id FROM ticket_booking_items WHERE event_id = :e AND active "
                    "GROUP BY seat_id HAVING count(*) > 1"
                ),
                {"e": shop.event.id},
            )
        ).all()
        bookings = (
            await conn.execute(
                sa.text(
                    "SELECT b.id, count(i.seat_id) FROM ticket_bookings b "
                    "LEFT JOIN ticket_booking_items i ON i.booking_id = b.id "
                    "WHERE b.event_id = :e GROUP BY b.id"
                ),
                {"e": shop.event.id},
            )
        ).all()
    assert doubled == []
    # Nothing of a refused hold was written: exactly the winners' bookings and items.
    assert Counter(str(row[0]) for row in bookings) == Counter(b.id for _, b in won if b)
    assert {str(row[0]): row[1] for row in bookings} == {
        b.id: len(b.items) for _, b in won if b is not None
    }
    seats = (
        await stub.list_event_seats(
            pb.ListEventSeatsRequest(actor=pb.Actor(guest=True), event_id=shop.event.id)
        )
    ).seats
    assert {s.seat.id for s in seats if s.state == pb.SeatState.HELD} == set(taken_by)


@pytest.fixture
async def gateway(core: CoreProcess, aiohttp_client: Any) -> Any:
    settings = gateway_settings(core, public_booking_rate_limit_per_minute=1_000_000)
    return await aiohttp_client(create_gateway(settings))


async def test_the_admin_catalog_over_rest_and_who_may_touch_it(gateway: Any, channel: Any) -> None:
    organisation = await new_organisation(channel, "Concert hall")
    admin = await new_user(channel, organisation, "admin")
    headers = bearer(await login(gateway, admin.email))
    created = await gateway.post(
        "/admin/venues",
        json={"name": "Great Hall", "address": "Ring 1", "timeZone": "Europe/Vienna"},
        headers=headers,
    )
    assert created.status == 201, await created.text()
    venue = (await created.json())["venue"]
    assert created.headers["Location"] == f"/admin/venues/{venue['id']}"
    added = await gateway.post(
        f"/admin/venues/{venue['id']}/seats",
        json={
            "rows": [
                {"section": "Stalls", "row": "A", "from": 1, "to": 12, "category": "front"},
                {"section": "Balcony", "row": "B", "from": 1, "to": 3, "category": "back"},
            ],
            "seats": [{"section": "Box", "row": "1", "number": "1", "category": "box"}],
        },
        headers=headers,
    )
    assert added.status == 201, await added.text()
    seats = (await added.json())["items"]
    assert len(seats) == 16
    stalls = [s["number"] for s in seats if s["section"] == "Stalls"]
    assert stalls == [str(n) for n in range(1, 13)]  # natural order: 2 before 10
    again = await gateway.post(
        f"/admin/venues/{venue['id']}/seats",
        json={"seats": [{"section": "Box", "row": "1", "number": "1", "category": "box"}]},
        headers=headers,
    )
    assert again.status == 400 and (await again.json())["code"] == "VALIDATION_FAILED"
    patched = await gateway.patch(
        f"/admin/venues/{venue['id']}", json={"name": "Greater Hall"}, headers=headers
    )
    assert (await patched.json())["venue"]["name"] == "Greater Hall"
    assert (await patched.json())["venue"]["seatCount"] == 16

    now = datetime.now(UTC)
    event_body = {
        "venueId": venue["id"],
        "name": "New Year's concert",
        "startsAt": (now + timedelta(days=30)).isoformat(),
        "endsAt": (now + timedelta(days=30, hours=2)).isoformat(),
        "salesOpenAt": now.isoformat(),
        "salesCloseAt": (now + timedelta(days=29)).isoformat(),
        "currency": "EUR",
        "prices": [
            {"category": "front", "amountMinor": 9900},
            {"category": "back", "amountMinor": 4900},
        ],
    }
    bad = await gateway.post(
        "/admin/events", json={**event_body, "currency": "XYZ"}, headers=headers
    )
    assert bad.status == 400
    assert (await bad.json())["errors"][0]["field"] == "currency"
    backwards = await gateway.post(
        "/admin/events", json={**event_body, "endsAt": now.isoformat()}, headers=headers
    )
    assert backwards.status == 400
    made = await gateway.post("/admin/events", json=event_body, headers=headers)
    assert made.status == 201, await made.text()
    event = (await made.json())["event"]
    public = await (await gateway.get(f"/public/events/{event['id']}")).json()
    # The box has no price: 15 seats for sale.
    assert public["event"]["seatsTotal"] == 15 and public["event"]["onSale"] is True
    assert public["event"]["timeZone"] == "Europe/Vienna"
    seat_map = await (await gateway.get(f"/public/events/{event['id']}/seats")).json()
    assert seat_map["currency"] == "EUR" and len(seat_map["items"]) == 15
    assert {s["priceMinor"] for s in seat_map["items"]} == {9900, 4900}
    repriced = await gateway.patch(
        f"/admin/events/{event['id']}",
        json={"prices": [{"category": "front", "amountMinor": 8900}]},
        headers=headers,
    )
    assert repriced.status == 200
    assert (await repriced.json())["event"]["version"] == 2

    # Another organisation's admin sees nothing of it; a customer or provider is refused.
    outsider = await new_user(channel, await new_organisation(channel), "admin")
    theirs = bearer(await login(gateway, outsider.email))
    for path in (f"/admin/venues/{venue['id']}", f"/admin/events/{event['id']}"):
        assert (await gateway.get(path, headers=theirs)).status == 404
    assert (await gateway.get("/admin/venues", headers=theirs)).status == 200
    customer = {"Authorization": f"Bearer {make_token('customer', str(uuid.uuid4()))}"}
    assert (await gateway.get("/admin/venues", headers=customer)).status == 403
    assert (
        await gateway.post("/admin/venues", json={"name": "x", "timeZone": "UTC"})
    ).status == 401
    assert (await gateway.get(f"/public/events/{uuid.uuid4()}")).status == 404


async def test_holds_follow_the_rules_and_guests_use_their_token(
    gateway: Any, channel: Any, customer: pb.Customer
) -> None:
    shop = await catalog(channel, seats=12, categories=("front", "front", "box"))
    seats = [s.id for s in shop.seats]
    priced = [s.id for s in shop.seats if s.category == "front"]
    box = next(s.id for s in shop.seats if s.category == "box")
    body = {"eventId": shop.event.id, "buyer": {"name": "Ada Lovelace", "email": "ada@example.com"}}

    too_many = await gateway.post("/ticket-bookings", json={**body, "seatIds": seats[:11]})
    assert too_many.status == 400
    assert (await too_many.json())["errors"][0]["field"] == "seatIds"
    twice = await gateway.post("/ticket-bookings", json={**body, "seatIds": [seats[0], seats[0]]})
    assert twice.status == 400
    not_for_sale = await gateway.post("/ticket-bookings", json={**body, "seatIds": [box]})
    assert not_for_sale.status == 400
    other = await catalog(channel, seats=1)
    foreign = await gateway.post("/ticket-bookings", json={**body, "seatIds": [other.seats[0].id]})
    assert foreign.status == 400
    bad_email = await gateway.post(
        "/ticket-bookings",
        json={**body, "seatIds": priced[:1], "buyer": {"name": "Ada", "email": "no at sign"}},
    )
    assert bad_email.status == 400

    held = await gateway.post(
        "/ticket-bookings",
        json={**body, "seatIds": priced[:2]},
        headers={"Idempotency-Key": "hold-1"},
    )
    assert held.status == 201, await held.text()
    created = await held.json()
    booking, token = created["booking"], created["manageToken"]
    assert booking["status"] == "pending" and booking["totalMinor"] == 9000
    assert booking["currency"] == "EUR" and len(booking["items"]) == 2
    assert held.headers["Location"] == f"/ticket-bookings/{booking['id']}"
    expires = datetime.fromisoformat(booking["expiresAt"])
    assert timedelta(seconds=590) < expires - datetime.now(UTC) <= timedelta(seconds=600)
    replay = await gateway.post(
        "/ticket-bookings",
        json={**body, "seatIds": priced[:2]},
        headers={"Idempotency-Key": "hold-1"},
    )
    assert replay.status == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert (await replay.json())["booking"]["id"] == booking["id"]
    reused = await gateway.post(
        "/ticket-bookings",
        json={**body, "seatIds": priced[2:4]},
        headers={"Idempotency-Key": "hold-1"},
    )
    assert reused.status == 422 and (await reused.json())["code"] == "IDEMPOTENCY_KEY_REUSED"
    clash = await gateway.post("/ticket-bookings", json={**body, "seatIds": priced[1:3]})
    assert clash.status == 409
    problem = await clash.json()
    assert problem["code"] == "SEAT_UNAVAILABLE" and problem["seatIds"] == [priced[1]]

    path = f"/ticket-bookings/{booking['id']}"
    assert (await gateway.get(path, params={"token": token})).status == 200
    assert (await gateway.get(path, params={"token": "x" * 43})).status == 404
    assert (await gateway.get(path)).status == 404
    stranger = {"Authorization": f"Bearer {make_token('customer', customer.id)}"}
    assert (await gateway.get(path, headers=stranger)).status == 404
    provider = {"Authorization": f"Bearer {make_token('provider', str(uuid.uuid4()))}"}
    assert (await gateway.get(path, headers=provider)).status == 403
    bogus = {"Authorization": "Bearer not.a.token"}
    assert (await gateway.get(path, headers=bogus)).status == 401

    cancelled = await gateway.post(f"{path}/cancel", params={"token": token}, json={})
    assert cancelled.status == 200
    assert (await cancelled.json())["booking"]["status"] == "cancelled"
    assert (await gateway.post(f"{path}/cancel", params={"token": token})).status == 409
    not_payable = await gateway.post(
        f"{path}/pay", params={"token": token}, json={"paymentMethod": "4242424242424242"}
    )
    assert not_payable.status == 409 and (await not_payable.json())["code"] == "BOOKING_NOT_PAYABLE"
    # Released: the same seats can be held again, by a signed-in customer this time.
    mine = await gateway.post(
        "/ticket-bookings",
        json={**body, "seatIds": priced[:2]},
        headers={"Authorization": f"Bearer {make_token('customer', customer.id)}"},
    )
    assert mine.status == 201
    mine_body = await mine.json()
    assert mine_body["manageToken"] is None
    assert mine_body["booking"]["customerId"] == customer.id

    closed = await catalog(channel, seats=1, sales_open=False)
    early = await gateway.post(
        "/ticket-bookings",
        json={"eventId": closed.event.id, "seatIds": [closed.seats[0].id], "buyer": body["buyer"]},
    )
    assert early.status == 409 and (await early.json())["code"] == "SALES_CLOSED"


async def test_an_admin_lists_an_events_bookings_and_cannot_refund_what_is_unpaid(
    gateway: Any, channel: Any
) -> None:
    organisation = await new_organisation(channel, "Opera")
    admin = await new_user(channel, organisation, "admin")
    headers = bearer(await login(gateway, admin.email))
    shop = await catalog(channel, seats=3, organisation_id=organisation)
    stub = pb.TicketingServiceStub(channel, timeout=10)
    held = [
        await stub.hold_seats(
            pb.HoldSeatsRequest(
                actor=SERVICE, event_id=shop.event.id, seat_ids=[seat.id], buyer=buyer()
            )
        )
        for seat in shop.seats
    ]
    page = await gateway.get(
        f"/admin/events/{shop.event.id}/bookings", params={"limit": "2"}, headers=headers
    )
    first = await page.json()
    assert [b["id"] for b in first["items"]] == [h.booking.id for h in held[::-1][:2]]
    rest = await gateway.get(
        f"/admin/events/{shop.event.id}/bookings",
        params={"cursor": first["nextCursor"]},
        headers=headers,
    )
    assert [b["id"] for b in (await rest.json())["items"]] == [held[0].booking.id]
    refused = await gateway.post(
        f"/admin/ticket-bookings/{held[0].booking.id}/refund",
        json={"reason": "never paid"},
        headers=headers,
    )
    assert refused.status == 409 and (await refused.json())["code"] == "BOOKING_NOT_REFUNDABLE"
    as_admin = await gateway.get(f"/ticket-bookings/{held[0].booking.id}", headers=headers)
    assert as_admin.status == 200
