"""Event types over HTTP against the real gateway, booking-core and PostgreSQL: the
provider's routes, public slots and guest bookings, the manage link, the rules
(notice, horizon, buffers against 1:1 bookings, edits, one place per guest) and
bad input on every new field."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from bookings_proto.bookings import v1 as pb
from gateway.app import create_app as create_gateway
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import SERVICE, gateway_settings
from .harness import CoreProcess, make_token

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EVERY_DAY = [{"weekday": day, "from": "08:00", "to": "20:00"} for day in WEEKDAYS]


def auth(role: str, owner_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(role, owner_id)}"}


async def new_provider(stub: pb.BookingServiceStub) -> str:
    reply = await stub.register_provider(
        pb.RegisterProviderRequest(actor=SERVICE, name="Studio", time_zone="Europe/Berlin")
    )
    assert reply.provider is not None
    return reply.provider.id


async def create_event_type(gateway: Any, provider_id: str, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "Yoga class",
        "timeZone": "Europe/Berlin",
        "periodMinutes": 60,
        "capacity": 3,
        "weeklyHours": EVERY_DAY,
        **fields,
    }
    response = await gateway.post("/event-types", json=body, headers=auth("provider", provider_id))
    assert response.status == 201, await response.text()
    assert response.headers["Location"].startswith("/event-types/")
    event_type: dict[str, Any] = (await response.json())["eventType"]
    return event_type


async def slots(gateway: Any, slug: str, **query: str) -> list[dict[str, Any]]:
    response = await gateway.get(f"/public/event-types/{slug}/slots", params=query)
    assert response.status == 200, await response.text()
    found: list[dict[str, Any]] = (await response.json())["slots"]
    return found


def guest(**fields: Any) -> dict[str, Any]:
    return {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": f"ada.{uuid.uuid4().hex[:8]}@example.com",
        "phone": "+49 30 1234567",
        **fields,
    }


async def book(gateway: Any, slug: str, slot_start: str, **fields: Any) -> Any:
    return await gateway.post(
        f"/public/event-types/{slug}/bookings", json={"slotStart": slot_start, **guest(**fields)}
    )


def manage_parts(manage_url: str) -> tuple[str, str]:
    parts = urlsplit(manage_url)
    return parts.path.rsplit("/", 1)[1], parse_qs(parts.query)["token"][0]


@pytest.fixture
async def public_gateway(core: CoreProcess, aiohttp_client: Any) -> Any:
    """A gateway with the public booking limit out of the way."""
    settings = gateway_settings(core, public_booking_rate_limit_per_minute=100_000)
    return await aiohttp_client(create_gateway(settings))


async def test_a_provider_creates_reads_lists_changes_and_deactivates_event_types(
    public_gateway: Any, stub: pb.BookingServiceStub
) -> None:
    gateway = public_gateway
    provider_id = await new_provider(stub)
    headers = auth("provider", provider_id)
    first = await create_event_type(gateway, provider_id, customSlug=f"Yoga-{uuid.uuid4().hex[:6]}")
    assert first["providerId"] == provider_id
    assert first["customSlug"] == first["customSlug"].lower()
    assert len(first["slug"]) == 16 and first["slug"].isalnum()
    assert first["bookingUrl"] == f"http://localhost:8080/book/{first['customSlug']}"
    assert (first["capacity"], first["bookingHorizonDays"], first["version"]) == (3, 60, 1)
    second = await create_event_type(gateway, provider_id, name="Intro call", capacity=1)

    response = await gateway.get(f"/event-types/{first['id']}", headers=headers)
    assert (await response.json())["eventType"] == first
    page = await (await gateway.get("/event-types?limit=1", headers=headers)).json()
    assert [e["id"] for e in page["items"]] == [first["id"]]
    rest = await (
        await gateway.get(f"/event-types?limit=1&cursor={page['nextCursor']}", headers=headers)
    ).json()
    assert [e["id"] for e in rest["items"]] == [second["id"]] and rest["nextCursor"] is None

    response = await gateway.patch(
        f"/event-types/{first['id']}",
        data=json.dumps({"name": "Evening yoga", "customSlug": None, "capacity": 5}),
        headers={**headers, "Content-Type": "application/merge-patch+json"},
    )
    assert response.status == 200, await response.text()
    changed = (await response.json())["eventType"]
    assert (changed["name"], changed["capacity"], changed["customSlug"]) == (
        "Evening yoga",
        5,
        None,
    )
    assert changed["version"] == 2 and changed["weeklyHours"] == first["weeklyHours"]
    assert changed["bookingUrl"].endswith(f"/book/{first['slug']}")
    assert (await gateway.get(f"/public/event-types/{first['customSlug']}")).status == 404

    public = await gateway.get(f"/public/event-types/{first['slug'].upper()}")
    assert public.status == 200
    shown = (await public.json())["eventType"]
    assert shown["providerName"] == "Studio" and "id" not in shown and "providerId" not in shown

    response = await gateway.post(f"/event-types/{first['id']}/deactivate", headers=headers)
    assert (await response.json())["eventType"]["active"] is False
    assert (await gateway.get(f"/public/event-types/{first['slug']}")).status == 404
    assert (await gateway.get(f"/public/event-types/{first['slug']}/slots")).status == 404
    response = await gateway.post(f"/event-types/{first['id']}/activate", headers=headers)
    assert (await response.json())["eventType"]["active"] is True
    assert (await gateway.get(f"/public/event-types/{first['slug']}")).status == 200


async def test_event_types_belong_to_their_provider(
    public_gateway: Any, stub: pb.BookingServiceStub, customer: pb.Customer, engine: AsyncEngine
) -> None:
    gateway = public_gateway
    owner, other = await new_provider(stub), await new_provider(stub)
    event_type = await create_event_type(gateway, owner)
    path = f"/event-types/{event_type['id']}"
    for method, url, body in (
        ("GET", path, None),
        ("PATCH", path, {"name": "Mine now"}),
        ("POST", f"{path}/deactivate", None),
    ):
        response = await gateway.request(method, url, json=body, headers=auth("provider", other))
        assert response.status == 404, (method, url)
        response = await gateway.request(
            method, url, json=body, headers=auth("customer", customer.id)
        )
        assert response.status == 403, (method, url)
        assert (await gateway.request(method, url, json=body)).status == 401
    listed = await (await gateway.get("/event-types", headers=auth("provider", other))).json()
    assert listed["items"] == []
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text("SELECT name, active, version FROM event_types WHERE id = :id"),
                {"id": event_type["id"]},
            )
        ).one()
    assert tuple(row) == ("Yoga class", True, 1)


async def test_custom_slugs_are_unique_case_insensitively(
    public_gateway: Any, stub: pb.BookingServiceStub
) -> None:
    gateway = public_gateway
    provider_id = await new_provider(stub)
    slug = f"pilates-{uuid.uuid4().hex[:6]}"
    taken = await create_event_type(gateway, provider_id, customSlug=slug)
    response = await gateway.post(
        "/event-types",
        json={"name": "x", "timeZone": "UTC", "periodMinutes": 30, "customSlug": slug.upper()},
        headers=auth("provider", await new_provider(stub)),
    )
    assert response.status == 409
    assert (await response.json())["code"] == "SLUG_TAKEN"
    # Nor can a custom slug take another type's random one.
    other = await create_event_type(gateway, provider_id)
    response = await gateway.patch(
        f"/event-types/{other['id']}",
        json={"customSlug": taken["slug"]},
        headers=auth("provider", provider_id),
    )
    assert response.status == 409
    # Giving a slug up frees it.
    await gateway.patch(
        f"/event-types/{taken['id']}",
        json={"customSlug": None},
        headers=auth("provider", provider_id),
    )
    response = await gateway.patch(
        f"/event-types/{other['id']}",
        json={"customSlug": slug},
        headers=auth("provider", provider_id),
    )
    assert response.status == 200
    assert (await (await gateway.get(f"/public/event-types/{slug}")).json())["eventType"][
        "slug"
    ] == other["slug"]


async def test_slots_are_offered_in_the_requested_zone(
    public_gateway: Any, stub: pb.BookingServiceStub
) -> None:
    gateway = public_gateway
    provider_id = await new_provider(stub)
    event_type = await create_event_type(
        gateway,
        provider_id,
        weeklyHours=[{"weekday": "tuesday", "from": "09:00", "to": "11:00"}],
        minimumNoticeMinutes=0,
    )
    start = datetime(2027, 1, 5, tzinfo=UTC)  # a Tuesday
    query = {"from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat()}
    found = await slots(gateway, event_type["slug"], **query)
    assert [s["start"] for s in found] == ["2027-01-05T09:00:00+01:00", "2027-01-05T10:00:00+01:00"]
    assert all((s["capacity"], s["remaining"]) == (3, 3) for s in found)
    in_new_york = await slots(gateway, event_type["slug"], **query, timeZone="America/New_York")
    assert in_new_york[0]["start"] == "2027-01-05T03:00:00-05:00"
    response = await gateway.get(
        f"/public/event-types/{event_type['slug']}/slots", params={**query, "timeZone": "Mars/Base"}
    )
    assert response.status == 400
    response = await gateway.get(
        f"/public/event-types/{event_type['slug']}/slots",
        params={"from": start.isoformat(), "to": (start + timedelta(days=63)).isoformat()},
    )
    assert response.status == 400
    assert (await response.json())["errors"][0]["field"] == "to"


async def test_a_guest_books_views_and_cancels_through_the_manage_link(
    public_gateway: Any, stub: pb.BookingServiceStub, engine: AsyncEngine
) -> None:
    gateway = public_gateway
    provider_id = await new_provider(stub)
    event_type = await create_event_type(gateway, provider_id)
    slot = (await slots(gateway, event_type["slug"]))[0]
    body = {
        "slotStart": slot["start"],
        **guest(
            email="Ada.Guest@Example.com",
            address="Hauptstr. 1\n10115 Berlin",
            specialRequests="First class: bring a mat?",
        ),
    }
    url = f"/public/event-types/{event_type['slug']}/bookings"
    response = await gateway.post(url, json=body, headers={"Idempotency-Key": "guest-1"})
    assert response.status == 201, await response.text()
    created = await response.json()
    assert len(created["reference"]) == 8
    assert response.headers["Location"] == f"/public/bookings/{created['reference']}"
    reference, token = manage_parts(created["manageUrl"])
    assert created["manageUrl"].startswith(f"http://localhost:8080/manage/{reference}?token=")

    # A retry is a replay with the same link; the same key with another body is refused.
    again = await gateway.post(url, json=body, headers={"Idempotency-Key": "guest-1"})
    assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == created
    other = await gateway.post(
        url, json={**body, "firstName": "Eve"}, headers={"Idempotency-Key": "guest-1"}
    )
    assert other.status == 422

    view = await gateway.get(f"/public/bookings/{reference.lower()}", params={"token": token})
    assert view.status == 200
    shown = (await view.json())["booking"]
    assert shown["id"] == created["bookingId"] and shown["status"] == "confirmed"
    assert shown["startTime"] == datetime.fromisoformat(slot["start"]).astimezone(
        UTC
    ).isoformat().replace("+00:00", "Z")
    assert shown["guest"] == {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "Ada.Guest@example.com",
        "phone": "+49301234567",
        "address": "Hauptstr. 1\n10115 Berlin",
        "specialRequests": "First class: bring a mat?",
    }
    assert shown["eventType"]["name"] == "Yoga class"

    # The provider sees it among its bookings, with the guest's details.
    listed = await (
        await gateway.get("/bookings?limit=100", headers=auth("provider", provider_id))
    ).json()
    (mine,) = [b for b in listed["items"] if b["id"] == created["bookingId"]]
    assert mine["eventTypeId"] == event_type["id"] and mine["reference"] == reference
    assert mine["guest"]["phone"] == "+49301234567"

    # A wrong token and an unknown reference give the same 404.
    wrong = await gateway.get(f"/public/bookings/{reference}", params={"token": token[:-2] + "xx"})
    unknown = await gateway.get("/public/bookings/ZZZZZZZZ", params={"token": token})
    garbage = await gateway.get("/public/bookings/!!", params={"token": token})
    bodies = []
    for answer in (wrong, unknown, garbage):
        assert answer.status == 404
        problem = await answer.json()
        del problem["requestId"]
        bodies.append(problem)
    assert bodies[0] == bodies[1] == bodies[2]
    assert (await gateway.get(f"/public/bookings/{reference}")).status == 400  # no token

    assert (await slots(gateway, event_type["slug"]))[0]["remaining"] == 2
    cancel = await gateway.post(
        f"/public/bookings/{reference}/cancel", params={"token": token}, json={"reason": "ill"}
    )
    assert cancel.status == 200
    cancelled = (await cancel.json())["booking"]
    assert (cancelled["status"], cancelled["cancelReason"]) == ("cancelled", "ill")
    again = await gateway.post(f"/public/bookings/{reference}/cancel", params={"token": token})
    assert again.status == 200 and (await again.json())["booking"]["status"] == "cancelled"
    assert (await slots(gateway, event_type["slug"]))[0]["remaining"] == 3
    async with engine.connect() as conn:
        types = (
            (
                await conn.execute(
                    sa.text("SELECT type FROM events WHERE booking_id = :id ORDER BY id"),
                    {"id": created["bookingId"]},
                )
            )
            .scalars()
            .all()
        )
        hashed = await conn.scalar(
            sa.text("SELECT manage_token_hash FROM booking_guests WHERE reference = :r"),
            {"r": reference},
        )
    assert types == [
        "booking.created",
        "slot.availability",
        "booking.cancelled",
        "slot.availability",
    ]
    assert token.encode() not in bytes(hashed)


async def test_a_guest_is_matched_to_a_customer_by_email_and_holds_one_place(
    public_gateway: Any, stub: pb.BookingServiceStub, engine: AsyncEngine
) -> None:
    gateway = public_gateway
    provider_id = await new_provider(stub)
    event_type = await create_event_type(gateway, provider_id)
    first, second = (await slots(gateway, event_type["slug"]))[:2]
    email = f"repeat.{uuid.uuid4().hex[:8]}@example.com"
    one = await book(gateway, event_type["slug"], first["start"], email=email)
    assert one.status == 201
    twice = await book(gateway, event_type["slug"], first["start"], email=email.upper())
    assert twice.status == 409
    assert (await twice.json())["code"] == "GUEST_ALREADY_BOOKED"
    other_slot = await book(gateway, event_type["slug"], second["start"], email=email.upper())
    assert other_slot.status == 201
    async with engine.connect() as conn:
        customers = (
            (
                await conn.execute(
                    sa.text(
                        "SELECT DISTINCT b.customer_id FROM bookings b "
                        "JOIN booking_guests g ON g.booking_id = b.id WHERE lower(g.email) = :e"
                    ),
                    {"e": email.lower()},
                )
            )
            .scalars()
            .all()
        )
    assert len(customers) == 1

    many = await create_event_type(gateway, provider_id, allowMultiplePlacesPerGuest=True)
    slot = (await slots(gateway, many["slug"]))[0]
    for _ in range(2):
        assert (await book(gateway, many["slug"], slot["start"], email=email)).status == 201


async def test_minimum_notice_and_horizon(public_gateway: Any, stub: pb.BookingServiceStub) -> None:
    gateway = public_gateway
    provider_id = await new_provider(stub)
    event_type = await create_event_type(
        gateway,
        provider_id,
        weeklyHours=[{"weekday": d, "from": "00:00", "to": "24:00"} for d in WEEKDAYS],
        minimumNoticeMinutes=180,
        bookingHorizonDays=2,
    )
    now = datetime.now(UTC)
    found = await slots(
        gateway,
        event_type["slug"],
        **{"from": now.isoformat(), "to": (now + timedelta(days=5)).isoformat()},
    )
    starts = [datetime.fromisoformat(s["start"]) for s in found]
    assert min(starts) >= now + timedelta(minutes=180)
    assert max(starts) < now + timedelta(days=2)
    assert min(starts) < now + timedelta(minutes=240)
    too_soon = (
        (now + timedelta(hours=1)).astimezone(BERLIN).replace(minute=0, second=0, microsecond=0)
    )
    response = await book(gateway, event_type["slug"], (too_soon + timedelta(hours=1)).isoformat())
    assert response.status == 409 and (await response.json())["code"] == "SLOT_UNAVAILABLE"
    too_late = (
        (now + timedelta(days=3)).astimezone(BERLIN).replace(minute=0, second=0, microsecond=0)
    )
    response = await book(gateway, event_type["slug"], too_late.isoformat())
    assert response.status == 409 and (await response.json())["code"] == "SLOT_UNAVAILABLE"
    not_a_slot = datetime.fromisoformat(found[0]["start"]) + timedelta(minutes=30)
    response = await book(gateway, event_type["slug"], not_a_slot.isoformat())
    assert response.status == 409 and (await response.json())["code"] == "SLOT_UNAVAILABLE"


async def test_buffers_keep_slots_and_one_to_one_bookings_apart(
    public_gateway: Any, stub: pb.BookingServiceStub, customer: pb.Customer
) -> None:
    gateway = public_gateway
    provider_id = await new_provider(stub)
    event_type = await create_event_type(
        gateway,
        provider_id,
        weeklyHours=[{"weekday": "wednesday", "from": "09:00", "to": "13:00"}],
        bufferBeforeMinutes=15,
        bufferAfterMinutes=30,
    )
    day = datetime(2027, 1, 6, tzinfo=BERLIN)  # a Wednesday
    query = {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()}
    assert len(await slots(gateway, event_type["slug"], **query)) == 4

    # A 1:1 booking at 10:20-10:40 blocks 10:00 (it overlaps) and 09:00 (its 30-minute
    # buffer after runs to 10:30), not 11:00 (its 15 minutes before start at 10:45).
    one_to_one = {
        "providerId": provider_id,
        "customerId": customer.id,
        "startTime": (day + timedelta(hours=10, minutes=20)).isoformat(),
        "endTime": (day + timedelta(hours=10, minutes=40)).isoformat(),
    }
    response = await gateway.post(
        "/bookings", json=one_to_one, headers=auth("customer", customer.id)
    )
    assert response.status == 201
    left = await slots(gateway, event_type["slug"], **query)
    assert [s["start"][11:16] for s in left] == ["11:00", "12:00"]
    response = await book(gateway, event_type["slug"], (day + timedelta(hours=9)).isoformat())
    assert response.status == 409 and (await response.json())["code"] == "SLOT_UNAVAILABLE"

    # A slot with places taken (12:00, busy 11:45-13:30) blocks a 1:1 booking in it or
    # in its buffers.
    assert (await book(gateway, event_type["slug"], left[1]["start"])).status == 201
    for start, end in (("12:20", "12:40"), ("13:10", "13:20"), ("11:50", "11:55")):
        h1, m1 = map(int, start.split(":"))
        h2, m2 = map(int, end.split(":"))
        response = await gateway.post(
            "/bookings",
            json={
                **one_to_one,
                "startTime": (day + timedelta(hours=h1, minutes=m1)).isoformat(),
                "endTime": (day + timedelta(hours=h2, minutes=m2)).isoformat(),
            },
            headers=auth("customer", customer.id),
        )
        assert response.status == 409, start
        assert (await response.json())["code"] == "BOOKING_OVERLAP"
    response = await gateway.post(
        "/bookings",
        json={
            **one_to_one,
            "startTime": (day + timedelta(hours=13, minutes=30)).isoformat(),
            "endTime": (day + timedelta(hours=14)).isoformat(),
        },
        headers=auth("customer", customer.id),
    )
    assert response.status == 201  # right after the buffer


async def test_editing_an_event_type_keeps_its_bookings(
    public_gateway: Any, stub: pb.BookingServiceStub, engine: AsyncEngine
) -> None:
    gateway = public_gateway
    provider_id = await new_provider(stub)
    event_type = await create_event_type(
        gateway, provider_id, weeklyHours=[{"weekday": "thursday", "from": "09:00", "to": "10:00"}]
    )
    day = datetime(2027, 1, 7, tzinfo=BERLIN)  # a Thursday
    query = {"from": day.isoformat(), "to": (day + timedelta(days=2)).isoformat()}
    (slot,) = await slots(gateway, event_type["slug"], **query)
    created = await (await book(gateway, event_type["slug"], slot["start"])).json()
    response = await gateway.patch(
        f"/event-types/{event_type['id']}",
        json={
            "weeklyHours": [{"weekday": "friday", "from": "14:00", "to": "15:30"}],
            "periodMinutes": 90,
            "capacity": 1,
        },
        headers=auth("provider", provider_id),
    )
    assert response.status == 200
    assert [s["start"] for s in await slots(gateway, event_type["slug"], **query)] == [
        "2027-01-08T14:00:00+01:00"
    ]
    response = await gateway.get(
        f"/bookings/{created['bookingId']}", headers=auth("provider", provider_id)
    )
    booking = (await response.json())["booking"]
    assert (booking["status"], booking["startTime"]) == ("confirmed", "2027-01-07T08:00:00Z")
    # The old slot is no longer offered, so nobody else books it.
    response = await book(gateway, event_type["slug"], slot["start"])
    assert response.status == 409 and (await response.json())["code"] == "SLOT_UNAVAILABLE"
    async with engine.connect() as conn:
        booked = await conn.scalar(
            sa.text("SELECT booked FROM slot_occupancy WHERE event_type_id = :id"),
            {"id": event_type["id"]},
        )
    assert booked == 1


BAD_EVENT_TYPES = [
    ({"timeZone": "Mars/Olympus"}, "timeZone"),
    ({"timeZone": 7}, "timeZone"),
    ({"periodMinutes": 0}, "periodMinutes"),
    ({"periodMinutes": "30"}, "periodMinutes"),
    ({"periodMinutes": 30.5}, "periodMinutes"),
    ({"capacity": 10**9}, "capacity"),
    ({"capacity": True}, "capacity"),
    ({"bufferBeforeMinutes": -1}, "bufferBeforeMinutes"),
    ({"minimumNoticeMinutes": 10**7}, "minimumNoticeMinutes"),
    ({"bookingHorizonDays": 0}, "bookingHorizonDays"),
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": "bad\r\nname"}, "name"),
    ({"customSlug": "a--b"}, "customSlug"),
    ({"customSlug": "ab"}, "customSlug"),
    (
        {"weeklyHours": [{"weekday": "funday", "from": "09:00", "to": "10:00"}]},
        "weeklyHours[0].weekday",
    ),
    (
        {"weeklyHours": [{"weekday": "monday", "from": "9:00", "to": "10:00"}]},
        "weeklyHours[0].from",
    ),
    ({"weeklyHours": [{"weekday": "monday", "from": "09:00", "to": "24:01"}]}, "weeklyHours[0].to"),
    (
        {
            "weeklyHours": [
                {"weekday": "monday", "from": "09:00", "to": "12:00"},
                {"weekday": "monday", "from": "11:00", "to": "13:00"},
            ]
        },
        "weeklyHours",
    ),
    (
        {"datedWindows": [{"start": "2027-01-01T10:00:00Z", "end": "2027-01-01T09:00:00Z"}]},
        "datedWindows[0].end",
    ),
    ({"datedWindows": [{"start": "2027-01-01T10:00:00"}]}, "datedWindows[0].start"),
    ({"dateExceptions": ["2027-02-30"]}, "dateExceptions[0]"),
    ({"dateExceptions": ["tomorrow"]}, "dateExceptions[0]"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("change", "field"), BAD_EVENT_TYPES)
async def test_bad_event_type_fields_are_400_naming_the_field(
    public_gateway: Any, stub: pb.BookingServiceStub, change: dict[str, Any], field: str
) -> None:
    provider_id = await new_provider(stub)
    body = {"name": "x", "timeZone": "Europe/Berlin", "periodMinutes": 30, **change}
    response = await public_gateway.post(
        "/event-types", json=body, headers=auth("provider", provider_id)
    )
    assert response.status == 400, await response.text()
    problem = await response.json()
    assert problem["code"] == "VALIDATION_FAILED"
    assert field in [e["field"] for e in problem["errors"]], problem


async def test_bad_bodies_and_huge_descriptions(
    public_gateway: Any, stub: pb.BookingServiceStub
) -> None:
    provider_id = await new_provider(stub)
    headers = auth("provider", provider_id)
    huge = {"name": "x", "timeZone": "UTC", "periodMinutes": 30, "description": "x" * 10_000_000}
    response = await public_gateway.post(
        "/event-types",
        data=io.BytesIO(json.dumps(huge).encode()),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status == 413
    response = await public_gateway.post(
        "/event-types", data="{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status == 400
    response = await public_gateway.post("/event-types", data="name=x", headers=headers)
    assert response.status == 415
    response = await public_gateway.patch(
        f"/event-types/{uuid.uuid4()}", json={"name": None}, headers=headers
    )
    assert response.status == 400
    response = await public_gateway.patch("/event-types/not-a-uuid", json={}, headers=headers)
    assert response.status == 400


BAD_GUESTS = [
    ({"firstName": "😀😀😀"}, "firstName"),
    ({"firstName": ""}, "firstName"),
    ({"lastName": "x" * 101}, "lastName"),
    ({"lastName": "Smith\r\nBcc: all@example.com"}, "lastName"),
    ({"email": "not-an-email"}, "email"),
    ({"email": 42}, "email"),
    ({"phone": "030 1234567"}, "phone"),
    ({"phone": "+49 1"}, "phone"),
    ({"phone": "x" * 33}, "phone"),
    ({"address": "x" * 501}, "address"),
    ({"specialRequests": "x" * 2001}, "specialRequests"),
    ({"slotStart": "tomorrow"}, "slotStart"),
    ({"slotStart": "2027-01-05T09:00:00"}, "slotStart"),
    ({"idempotencyKey": ""}, "idempotencyKey"),
    ({"role": "admin"}, "role"),
]


@pytest.mark.parametrize(("change", "field"), BAD_GUESTS)
async def test_bad_guest_fields_are_400_naming_the_field(
    public_gateway: Any, stub: pb.BookingServiceStub, change: dict[str, Any], field: str
) -> None:
    provider_id = await new_provider(stub)
    event_type = await create_event_type(public_gateway, provider_id)
    slot = (await slots(public_gateway, event_type["slug"]))[0]
    body = {"slotStart": slot["start"], **guest(), **change}
    response = await public_gateway.post(
        f"/public/event-types/{event_type['slug']}/bookings", json=body
    )
    assert response.status == 400, await response.text()
    assert field in [e["field"] for e in (await response.json())["errors"]]
    assert (await slots(public_gateway, event_type["slug"]))[0]["remaining"] == 3


async def test_unknown_slugs_are_404(public_gateway: Any) -> None:
    for path in (
        "/public/event-types/no-such-type",
        "/public/event-types/no-such-type/slots",
    ):
        response = await public_gateway.get(path)
        assert response.status == 404
        assert (await response.json())["code"] == "NOT_FOUND"
    response = await book(public_gateway, "no-such-type", "2027-01-05T09:00:00+01:00")
    assert response.status == 404


async def test_public_booking_has_its_own_stricter_limit(
    core: CoreProcess, aiohttp_client: Any, stub: pb.BookingServiceStub
) -> None:
    settings = gateway_settings(core, public_booking_rate_limit_per_minute=2)
    gateway = await aiohttp_client(create_gateway(settings))
    provider_id = await new_provider(stub)
    event_type = await create_event_type(gateway, provider_id)
    slot = (await slots(gateway, event_type["slug"]))[0]
    statuses = [(await book(gateway, event_type["slug"], slot["start"])).status for _ in range(3)]
    assert statuses == [201, 201, 429]
    limited = await book(gateway, event_type["slug"], slot["start"])
    assert int(limited.headers["Retry-After"]) >= 1
    # Reads are not held back by it.
    assert (await gateway.get(f"/public/event-types/{event_type['slug']}")).status == 200
