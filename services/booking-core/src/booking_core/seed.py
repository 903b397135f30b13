"""``python -m booking_core.seed``: create the demo organisation, its admin, provider,
a customer, an event type, and a venue with 300 seats and a ticketed event; print
their ids and the event type's slugs.

Idempotent: the demo records have fixed ids (uuid5 of their names), so running
it again changes nothing and prints the same JSON, except that the admin's
password (``admin@demo.example``, random) is printed only by the run that created
the admin: only its Argon2id hash is stored. The event type's random slug is drawn
on the first run and kept; its custom slug is ``demo-intro-call``. The demo concert
starts 30 days after the run that created it, and moves 30 days ahead again once
its sales have closed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from bookings_common.settings import load_or_exit, new_env, postgres_url
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .adapters.event_types import event_type_row
from .adapters.postgres import create_engine
from .adapters.tables import (
    customers,
    event_type_slugs,
    event_types,
    organisations,
    providers,
    seats,
    ticket_prices,
    ticketed_events,
    users,
    venues,
)
from .domain.event_types import EventType, EventTypeSpec, new_slug
from .domain.identity import Passwords, generate_password
from .domain.slots import SlotRules, WeeklyHours

DEMO_PROVIDER_ID = uuid.uuid5(uuid.NAMESPACE_URL, "bookings:demo-provider")
DEMO_CUSTOMER_ID = uuid.uuid5(uuid.NAMESPACE_URL, "bookings:demo-customer")
DEMO_CUSTOMER_EMAIL = "demo.customer@example.com"
DEMO_EVENT_TYPE_ID = uuid.uuid5(uuid.NAMESPACE_URL, "bookings:demo-event-type")
DEMO_ORGANISATION_ID = uuid.uuid5(uuid.NAMESPACE_URL, "bookings:demo-organisation")
DEMO_ADMIN_ID = uuid.uuid5(uuid.NAMESPACE_URL, "bookings:demo-admin")
DEMO_ADMIN_EMAIL = "admin@demo.example"
# The demo provider's staff login, so the admin panel lists it among the providers
# (its password is random and never shown: an admin sets one with PATCH /admin/users).
DEMO_PROVIDER_USER_ID = uuid.uuid5(uuid.NAMESPACE_URL, "bookings:demo-provider-user")
DEMO_PROVIDER_EMAIL = "provider@demo.example"
DEMO_EVENT_TYPE_SLUG = "demo-intro-call"
DEFAULT_PUBLIC_BASE_URL = "http://localhost:8080"
DEMO_VENUE_ID = uuid.uuid5(uuid.NAMESPACE_URL, "bookings:demo-venue")
DEMO_TICKETED_EVENT_ID = uuid.uuid5(uuid.NAMESPACE_URL, "bookings:demo-concert")
# (section, rows, seats per row, category, price in cents)
DEMO_SECTIONS = (
    ("Stalls", "ABCDEFGHIJ", 20, "stalls", 4500),
    ("Balcony", "ABCDE", 20, "balcony", 2500),
)


def demo_seats() -> list[dict[str, object]]:
    """The demo hall's 300 seats, with ids fixed by their position."""
    return [
        {
            "id": uuid.uuid5(uuid.NAMESPACE_URL, f"bookings:demo-seat:{section}:{row}:{number}"),
            "venue_id": DEMO_VENUE_ID,
            "section": section,
            "row": row,
            "number": str(number),
            "category": category,
        }
        for section, rows, per_row, category, _ in DEMO_SECTIONS
        for row in rows
        for number in range(1, per_row + 1)
    ]


async def seed_ticketing(conn: AsyncConnection, now: datetime) -> None:
    """The demo hall, its seats and the demo concert (prices per section), if absent."""
    await conn.execute(
        insert(venues)
        .values(
            id=DEMO_VENUE_ID,
            organisation_id=DEMO_ORGANISATION_ID,
            name="Demo Hall",
            address="Market Square 1, Berlin",
            time_zone="Europe/Berlin",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[venues.c.id])
    )
    await conn.execute(insert(seats).values(demo_seats()).on_conflict_do_nothing())
    starts = (now + timedelta(days=30)).replace(hour=18, minute=0, second=0, microsecond=0)
    times = {
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "sales_open_at": now - timedelta(days=1),
        "sales_close_at": starts - timedelta(hours=1),
    }
    await conn.execute(
        insert(ticketed_events)
        .values(
            id=DEMO_TICKETED_EVENT_ID,
            organisation_id=DEMO_ORGANISATION_ID,
            venue_id=DEMO_VENUE_ID,
            name="Demo Concert",
            description="An evening of chamber music. Seats are held for 10 minutes.",
            currency="EUR",
            created_at=now,
            updated_at=now,
            **times,
        )
        .on_conflict_do_nothing(index_elements=[ticketed_events.c.id])
    )
    await conn.execute(
        ticketed_events.update()
        .where(
            ticketed_events.c.id == DEMO_TICKETED_EVENT_ID, ticketed_events.c.sales_close_at < now
        )
        .values(updated_at=now, **times)
    )
    await conn.execute(
        insert(ticket_prices)
        .values(
            [
                {"event_id": DEMO_TICKETED_EVENT_ID, "category": category, "amount_minor": price}
                for _, _, _, category, price in DEMO_SECTIONS
            ]
        )
        .on_conflict_do_nothing()
    )


def demo_event_type(now: datetime) -> EventType:
    """ "Intro call": 30 minutes, one place, Monday to Friday 09:00-17:00 in Berlin."""
    return EventType(
        id=DEMO_EVENT_TYPE_ID,
        provider_id=DEMO_PROVIDER_ID,
        spec=EventTypeSpec(
            name="Intro call",
            description="A free 30-minute introduction to the clinic.",
            location="Video call (the link comes with the confirmation)",
            time_zone="Europe/Berlin",
            period_minutes=30,
            capacity=1,
            minimum_notice_minutes=60,
            booking_horizon_days=60,
            rules=SlotRules(
                weekly_hours=tuple(WeeklyHours(day, 9 * 60, 17 * 60) for day in range(1, 6))
            ),
            custom_slug=DEMO_EVENT_TYPE_SLUG,
        ),
        slug=new_slug(),
        active=True,
        version=1,
        created_at=now,
        updated_at=now,
    )


async def _insert_user(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    email: str,
    display_name: str,
    role: str,
    password: str,
    now: datetime,
    provider_id: uuid.UUID | None = None,
) -> bool:
    """Insert a demo staff user unless it exists; True when this call created it."""
    created = await conn.execute(
        insert(users)
        .values(
            id=user_id,
            organisation_id=DEMO_ORGANISATION_ID,
            email=email,
            display_name=display_name,
            password_hash=await asyncio.to_thread(Passwords().hash, password),
            role=role,
            provider_id=provider_id,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
        .returning(users.c.id)
    )
    return created.first() is not None


async def seed(database_url: str, public_base_url: str = DEFAULT_PUBLIC_BASE_URL) -> dict[str, str]:
    """Insert the demo records if absent; return their ids, the event type's slugs and
    booking URL (on ``public_base_url``, the gateway's ``PUBLIC_BASE_URL``), the admin's
    email and, when this call created the admin, its password."""
    engine = create_engine(database_url, pool_size=1)
    now = datetime.now(UTC)
    admin_password = None
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(organisations)
                .values(id=DEMO_ORGANISATION_ID, name="Demo Clinic", created_at=now)
                .on_conflict_do_nothing(index_elements=[organisations.c.id])
            )
            await conn.execute(
                insert(providers)
                .values(
                    id=DEMO_PROVIDER_ID,
                    name="Demo Clinic",
                    time_zone="Europe/Berlin",
                    created_at=now,
                    organisation_id=DEMO_ORGANISATION_ID,
                )
                .on_conflict_do_nothing(index_elements=[providers.c.id])
            )
            # A database from before organisations: its demo provider joins the demo one.
            await conn.execute(
                providers.update()
                .where(providers.c.id == DEMO_PROVIDER_ID, providers.c.organisation_id.is_(None))
                .values(organisation_id=DEMO_ORGANISATION_ID)
            )
            password = generate_password()
            if await _insert_user(
                conn, DEMO_ADMIN_ID, DEMO_ADMIN_EMAIL, "Demo Admin", "admin", password, now
            ):
                admin_password = password
            await _insert_user(
                conn,
                DEMO_PROVIDER_USER_ID,
                DEMO_PROVIDER_EMAIL,
                "Demo Clinic",
                "provider",
                generate_password(),
                now,
                provider_id=DEMO_PROVIDER_ID,
            )
            await conn.execute(
                insert(customers)
                .values(
                    id=DEMO_CUSTOMER_ID,
                    name="Demo Customer",
                    email=DEMO_CUSTOMER_EMAIL,
                    created_at=now,
                )
                .on_conflict_do_nothing()
            )
            event_type = demo_event_type(now)
            created = await conn.execute(
                insert(event_types)
                .values(**event_type_row(event_type))
                .on_conflict_do_nothing(index_elements=[event_types.c.id])
                .returning(event_types.c.id)
            )
            if created.first() is not None:
                for slug_text, custom in ((event_type.slug, False), (DEMO_EVENT_TYPE_SLUG, True)):
                    await conn.execute(
                        insert(event_type_slugs)
                        .values(slug=slug_text, event_type_id=event_type.id, custom=custom)
                        .on_conflict_do_nothing()
                    )
            await seed_ticketing(conn, now)
            slug = await conn.scalar(
                sa.select(event_type_slugs.c.slug).where(
                    event_type_slugs.c.event_type_id == DEMO_EVENT_TYPE_ID,
                    event_type_slugs.c.custom.is_(False),
                )
            )
    finally:
        await engine.dispose()
    demo = {
        "organisationId": str(DEMO_ORGANISATION_ID),
        "providerId": str(DEMO_PROVIDER_ID),
        "customerId": str(DEMO_CUSTOMER_ID),
        "eventTypeId": str(DEMO_EVENT_TYPE_ID),
        "eventTypeSlug": str(slug),
        "eventTypeCustomSlug": DEMO_EVENT_TYPE_SLUG,
        "bookingUrl": f"{public_base_url}/book/{DEMO_EVENT_TYPE_SLUG}",
        "adminEmail": DEMO_ADMIN_EMAIL,
        "venueId": str(DEMO_VENUE_ID),
        "ticketedEventId": str(DEMO_TICKETED_EVENT_ID),
    }
    if admin_password is not None:  # shown once: only the hash is stored
        demo["adminPassword"] = admin_password
    return demo


def main() -> None:
    env = new_env()
    url = load_or_exit(postgres_url, env=env)
    public = env.str("PUBLIC_BASE_URL", DEFAULT_PUBLIC_BASE_URL).rstrip("/")
    print(json.dumps(asyncio.run(seed(url, public))))


if __name__ == "__main__":
    main()
