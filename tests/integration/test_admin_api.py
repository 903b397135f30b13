"""The admin API and organisations against the real gateway, booking-core and PostgreSQL:
the authorisation matrix (nothing of another organisation leaks or changes), team
event types (a race for a team's slot, the assignment order, picking a member),
the organisation's bookings (filters, paging, CSV, cancel on behalf) and the audit log."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from bookings_proto.bookings import v1 as pb
from gateway.app import create_app as create_gateway
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import gateway_settings
from .harness import CoreProcess, make_token
from .test_event_types import guest
from .test_identity import bearer, login, new_organisation, new_user

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@pytest.fixture
async def gateway(core: CoreProcess, aiohttp_client: Any) -> Any:
    settings = gateway_settings(core, public_booking_rate_limit_per_minute=1_000_000)
    return await aiohttp_client(create_gateway(settings))


@dataclass
class Org:
    id: str
    admin: pb.User
    providers: list[pb.User]
    admin_headers: dict[str, str]
    provider_headers: list[dict[str, str]]


async def organisation(gateway: Any, channel: Any, providers: int = 2) -> Org:
    org_id = await new_organisation(channel)
    admin = await new_user(channel, org_id, "admin")
    users = [await new_user(channel, org_id, "provider") for _ in range(providers)]
    return Org(
        org_id,
        admin,
        users,
        bearer(await login(gateway, admin.email)),
        [bearer(await login(gateway, u.email)) for u in users],
    )


async def post(gateway: Any, path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
    response = await gateway.post(path, json=body, headers=headers)
    assert response.status in (200, 201), await response.text()
    result: dict[str, Any] = await response.json()
    return result


def every_day(start: str = "08:00", end: str = "20:00") -> list[dict[str, str]]:
    return [{"weekday": d, "from": start, "to": end} for d in WEEKDAYS]


async def test_nothing_of_another_organisation_leaks_or_changes(
    gateway: Any, channel: Any, engine: AsyncEngine, customer: pb.Customer
) -> None:
    a = await organisation(gateway, channel)
    b = await organisation(gateway, channel, providers=1)
    team = (await post(gateway, "/admin/teams", {"name": "A team"}, a.admin_headers))["team"]
    event_type = (
        await post(
            gateway,
            "/event-types",
            {"name": "A call", "timeZone": "UTC", "periodMinutes": 30, "weeklyHours": every_day()},
            a.provider_headers[0],
        )
    )["eventType"]
    slot = (await (await gateway.get(f"/public/event-types/{event_type['slug']}/slots")).json())[
        "slots"
    ][0]
    booking = await post(
        gateway,
        f"/public/event-types/{event_type['slug']}/bookings",
        {"slotStart": slot["start"], **guest()},
        {},
    )

    queries = (
        "SELECT id, display_name, disabled, password_hash FROM users "
        "WHERE organisation_id = :o ORDER BY id",
        "SELECT id, name FROM teams WHERE organisation_id = :o ORDER BY id",
        "SELECT team_id, provider_id FROM team_members ORDER BY 1, 2",
        "SELECT id, name, active, version FROM event_types ORDER BY id",
        "SELECT id, status FROM bookings ORDER BY id",
    )

    async def snapshot() -> list[list[tuple[Any, ...]]]:
        found = []
        async with engine.connect() as conn:
            for query in queries:
                rows = (await conn.execute(sa.text(query), {"o": a.id})).all()
                found.append([tuple(row) for row in rows])
        return found

    before = await snapshot()
    user_id, team_id, booking_id = a.providers[1].id, team["id"], booking["bookingId"]
    admin_routes: list[tuple[str, str, Any]] = [
        ("GET", f"/admin/users/{user_id}", None),
        ("PATCH", f"/admin/users/{user_id}", {"disabled": True}),
        ("PATCH", f"/admin/users/{user_id}", {"password": "a brand new passphrase"}),
        ("DELETE", f"/admin/users/{user_id}", None),
        ("GET", f"/admin/teams/{team_id}", None),
        ("PATCH", f"/admin/teams/{team_id}", {"name": "Taken over"}),
        ("DELETE", f"/admin/teams/{team_id}", None),
        ("POST", f"/admin/teams/{team_id}/members", {"providerId": b.providers[0].provider_id}),
        ("DELETE", f"/admin/teams/{team_id}/members/{a.providers[0].provider_id}", None),
        ("POST", f"/admin/bookings/{booking_id}/cancel", {"reason": "mine now"}),
        ("GET", f"/event-types/{event_type['id']}", None),
        ("PATCH", f"/event-types/{event_type['id']}", {"name": "Taken over"}),
        ("POST", f"/event-types/{event_type['id']}/deactivate", None),
        (
            "POST",
            "/event-types",
            {"name": "x", "timeZone": "UTC", "periodMinutes": 30, "teamId": team_id},
        ),
    ]
    callers = {
        "another organisation's admin": (b.admin_headers, {404}),
        "another organisation's provider": (
            {"Authorization": f"Bearer {make_token('provider', b.providers[0].provider_id)}"},
            {403, 404},
        ),
        "a provider of the same organisation": (a.provider_headers[1], {403, 404}),
        "a customer": ({"Authorization": f"Bearer {make_token('customer', customer.id)}"}, {403}),
        "no token": ({}, {401}),
    }
    for who, (headers, allowed) in callers.items():
        for method, path, body in admin_routes:
            if who == "a provider of the same organisation" and path.startswith("/event-types"):
                allowed_here = {404, 403}
            else:
                allowed_here = allowed
            response = await gateway.request(method, path, json=body, headers=headers)
            assert response.status in allowed_here, (who, method, path, response.status)
            text = await response.text()
            assert a.admin.email not in text and a.providers[1].email not in text
    # Lists answer with the caller's own organisation only.
    for path in ("/admin/users", "/admin/teams", "/admin/bookings", "/admin/audit", "/event-types"):
        response = await gateway.get(path, headers=b.admin_headers)
        assert response.status == 200, path
        text = await response.text()
        for secret in (a.admin.email, team_id, booking_id, event_type["id"]):
            assert secret not in text, (path, secret)
    assert await snapshot() == before


async def test_fifty_guests_for_a_three_member_team_slot(
    gateway: Any, channel: Any, engine: AsyncEngine
) -> None:
    org = await organisation(gateway, channel, providers=3)
    team = (await post(gateway, "/admin/teams", {"name": "Round robin"}, org.admin_headers))["team"]
    for member in org.providers:
        await post(
            gateway,
            f"/admin/teams/{team['id']}/members",
            {"providerId": member.provider_id},
            org.admin_headers,
        )
    event_type = (
        await post(
            gateway,
            "/event-types",
            {
                "name": "Team intro",
                "timeZone": "Europe/Berlin",
                "periodMinutes": 30,
                "teamId": team["id"],
                "weeklyHours": every_day(),
            },
            org.admin_headers,
        )
    )["eventType"]
    slots = (await (await gateway.get(f"/public/event-types/{event_type['slug']}/slots")).json())[
        "slots"
    ]
    assert (slots[0]["capacity"], slots[0]["remaining"]) == (3, 3)

    async def attempt() -> tuple[int, Any]:
        response = await gateway.post(
            f"/public/event-types/{event_type['slug']}/bookings",
            json={"slotStart": slots[0]["start"], **guest()},
        )
        return response.status, await response.json()

    results = await asyncio.gather(*(attempt() for _ in range(50)))
    assert Counter(status for status, _ in results) == {201: 3, 409: 47}
    assert {body["code"] for status, body in results if status == 409} <= {
        "SLOT_FULL",
        "SLOT_UNAVAILABLE",
    }
    async with engine.connect() as conn:
        assigned = (
            (
                await conn.execute(
                    sa.text(
                        "SELECT provider_id FROM bookings WHERE event_type_id = :et "
                        "AND status = 'confirmed'"
                    ),
                    {"et": event_type["id"]},
                )
            )
            .scalars()
            .all()
        )
        overlapping = await conn.scalar(
            sa.text(
                """
                SELECT count(*) FROM bookings x JOIN bookings y
                  ON x.provider_id = y.provider_id AND x.id < y.id
                 AND tstzrange(COALESCE(x.busy_start, x.start_time),
                               COALESCE(x.busy_end, x.end_time))
                  && tstzrange(COALESCE(y.busy_start, y.start_time),
                               COALESCE(y.busy_end, y.end_time))
                 AND COALESCE(x.slot_id, x.id) <> COALESCE(y.slot_id, y.id)
                WHERE x.status = 'confirmed' AND y.status = 'confirmed'
                  AND x.provider_id = ANY(:members)
                """
            ),
            {"members": [uuid.UUID(m.provider_id) for m in org.providers]},
        )
    assert sorted(map(str, assigned)) == sorted(m.provider_id for m in org.providers)
    assert overlapping == 0
    left = (await (await gateway.get(f"/public/event-types/{event_type['slug']}/slots")).json())[
        "slots"
    ]
    assert slots[0]["start"] not in [s["start"] for s in left]


async def test_assignment_prefers_the_least_booked_then_round_robin_and_members_can_be_picked(
    gateway: Any, channel: Any
) -> None:
    org = await organisation(gateway, channel, providers=2)
    first, second = org.providers
    team = (await post(gateway, "/admin/teams", {"name": "Two"}, org.admin_headers))["team"]
    for member in org.providers:
        await post(
            gateway,
            f"/admin/teams/{team['id']}/members",
            {"providerId": member.provider_id},
            org.admin_headers,
        )
    day = (datetime.now(BERLIN) + timedelta(days=3)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    event_type = (
        await post(
            gateway,
            "/event-types",
            {
                "name": "Consult",
                "timeZone": "Europe/Berlin",
                "periodMinutes": 60,
                "teamId": team["id"],
                "weeklyHours": [
                    {"weekday": WEEKDAYS[day.weekday()], "from": "09:00", "to": "13:00"}
                ],
                "allowMemberChoice": True,
            },
            org.admin_headers,
        )
    )["eventType"]
    # The first member already has a 1:1 booking that day (at 16:00, not overlapping).
    customer = await pb.BookingServiceStub(channel, timeout=10).register_customer(
        pb.RegisterCustomerRequest(
            actor=pb.Actor(service="tests"), name="C", email=f"{uuid.uuid4().hex}@example.com"
        )
    )
    assert customer.customer is not None
    await pb.BookingServiceStub(channel, timeout=10).create_booking(
        pb.CreateBookingRequest(
            actor=pb.Actor(service="tests"),
            provider_id=first.provider_id,
            customer_id=customer.customer.id,
            start_time=(day + timedelta(hours=16)).astimezone(UTC),
            end_time=(day + timedelta(hours=17)).astimezone(UTC),
        )
    )
    slug = event_type["slug"]

    async def book_at(hour: int, **extra: Any) -> str:
        booked = await post(
            gateway,
            f"/public/event-types/{slug}/bookings",
            {"slotStart": (day + timedelta(hours=hour)).isoformat(), **guest(), **extra},
            {},
        )
        response = await gateway.get(
            f"/bookings/{booked['bookingId']}",
            headers={"Authorization": f"Bearer {make_token('provider', first.provider_id)}"},
        )
        return first.provider_id if response.status == 200 else second.provider_id

    # Fewest bookings that day: the second member (0 against 1).
    assert await book_at(9) == second.provider_id
    # 1 each: round robin, to the one never assigned this event type.
    assert await book_at(10) == first.provider_id
    # 2 against 1: the second again.
    assert await book_at(11) == second.provider_id

    public = await (await gateway.get(f"/public/event-types/{slug}")).json()
    assert sorted(m["id"] for m in public["eventType"]["members"]) == sorted(
        u.provider_id for u in org.providers
    )
    assert await book_at(12, memberId=first.provider_id) == first.provider_id
    mine = await gateway.get(
        f"/public/event-types/{slug}/slots",
        params={
            "memberId": second.provider_id,
            "from": day.isoformat(),
            "to": (day + timedelta(days=1)).isoformat(),
        },
    )
    # The second member hosts 9:00 and 11:00; 10:00 and 12:00 went to the first.
    assert [s["start"][11:16] for s in (await mine.json())["slots"]] == ["10:00", "12:00"]
    response = await gateway.post(
        f"/public/event-types/{slug}/bookings",
        json={
            "slotStart": (day + timedelta(hours=12)).isoformat(),
            **guest(),
            "memberId": str(uuid.uuid4()),
        },
    )
    assert response.status == 400 and (await response.json())["errors"][0]["field"] == "memberId"


async def test_the_organisations_bookings_csv_cancel_on_behalf_and_the_audit_log(
    gateway: Any, channel: Any
) -> None:
    org = await organisation(gateway, channel, providers=2)
    event_types = []
    for index, headers in enumerate(org.provider_headers):
        event_types.append(
            (
                await post(
                    gateway,
                    "/event-types",
                    {
                        "name": f"Call {index}",
                        "timeZone": "UTC",
                        "periodMinutes": 30,
                        "weeklyHours": every_day(),
                    },
                    headers,
                )
            )["eventType"]
        )
    booked = []
    for event_type in event_types:
        slots = (
            await (await gateway.get(f"/public/event-types/{event_type['slug']}/slots")).json()
        )["slots"]
        for slot, first_name in zip(slots[:3], ('=HYPERLINK("x")', "Ada", "+1 evil"), strict=True):
            booked.append(
                await post(
                    gateway,
                    f"/public/event-types/{event_type['slug']}/bookings",
                    {"slotStart": slot["start"], **guest(firstName=first_name)},
                    {},
                )
            )
    headers = org.admin_headers
    page = await (
        await gateway.get("/admin/bookings", params={"limit": "4"}, headers=headers)
    ).json()
    assert len(page["items"]) == 4 and page["nextCursor"]
    rest = await (
        await gateway.get(
            "/admin/bookings", params={"limit": "4", "cursor": page["nextCursor"]}, headers=headers
        )
    ).json()
    everything = page["items"] + rest["items"]
    assert {b["id"] for b in everything} == {b["bookingId"] for b in booked}
    assert [b["startTime"] for b in everything] == sorted(b["startTime"] for b in everything)

    by_provider = await (
        await gateway.get(
            "/admin/bookings",
            params={"providerId": org.providers[0].provider_id},
            headers=headers,
        )
    ).json()
    assert {b["providerId"] for b in by_provider["items"]} == {org.providers[0].provider_id}
    assert len(by_provider["items"]) == 3
    by_type = await (
        await gateway.get(
            "/admin/bookings", params={"eventTypeId": event_types[1]["id"]}, headers=headers
        )
    ).json()
    assert len(by_type["items"]) == 3
    email = everything[0]["guest"]["email"]
    by_email = await (
        await gateway.get("/admin/bookings", params={"guestEmail": email.upper()}, headers=headers)
    ).json()
    assert [b["guest"]["email"] for b in by_email["items"]] == [email]

    target = everything[0]["id"]
    response = await gateway.post(f"/admin/bookings/{target}/cancel", json={}, headers=headers)
    assert response.status == 400  # a reason is required
    response = await gateway.post(
        f"/admin/bookings/{target}/cancel", json={"reason": "provider ill"}, headers=headers
    )
    assert response.status == 200
    assert (await response.json())["booking"]["cancelReason"] == "provider ill"
    cancelled = await (
        await gateway.get("/admin/bookings", params={"status": "cancelled"}, headers=headers)
    ).json()
    assert [b["id"] for b in cancelled["items"]] == [target]
    starts = sorted({b["startTime"] for b in everything})
    window = await (
        await gateway.get(
            "/admin/bookings", params={"from": starts[1], "to": starts[2]}, headers=headers
        )
    ).json()
    assert {b["id"] for b in window["items"]} == {
        b["id"] for b in everything if b["startTime"] == starts[1]
    }

    response = await gateway.get("/admin/bookings.csv", headers=headers)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert len(rows) == 6
    names = {row["guestFirstName"] for row in rows}
    assert '\'=HYPERLINK("x")' in names and "'+1 evil" in names and "Ada" in names
    assert all(not row[c].startswith(("=", "+", "-", "@")) for row in rows for c in row)

    audit = await (await gateway.get("/admin/audit", headers=headers)).json()
    actions = [entry["action"] for entry in audit["items"]]
    assert actions[0] == "booking.cancelled"
    assert audit["items"][0]["actor"] == f"admin:{org.admin.id}"
    assert audit["items"][0]["details"] == {"reason": "provider ill"}
    assert actions.count("event_type.created") == 2
