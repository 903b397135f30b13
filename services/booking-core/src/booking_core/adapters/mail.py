"""The mail store on PostgreSQL: mail-worthy events and their bookings, the delivery
records (``mail_deliveries``) and the mail jobs (``mail_jobs``).

A claim is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statement: the
unique key (booking, version, kind, recipient) makes a second concurrent claim
wait for the first and then see it, so two workers never both get ``CLAIMED``
for a live claim.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from booking_core.domain.mail import BookingDetails, MailKind, Party
from booking_core.domain.model import Booking, LoggedEvent
from booking_core.service_layer.mail_ports import (
    ClaimResult,
    DeliveryClaim,
    DeliveryKey,
    DeliveryResult,
    MailFailure,
)

from .bookings_read import BOOKING_WITH_GUEST, booking_from_row
from .postgres import logged_event
from .tables import (
    bookings,
    customers,
    event_types,
    events,
    mail_deliveries,
    mail_jobs,
    providers,
    users,
)

# A released claim (RETRY) is stamped with this, so any later claim takes it over.
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class SqlMailStore:
    """Implements ``MailStore``; each call is its own transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def event(self, event_id: int) -> LoggedEvent | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(sa.select(events).where(events.c.id == event_id)))
                .mappings()
                .first()
            )
        return logged_event(row) if row is not None else None

    async def booking(self, booking_id: UUID) -> Booking | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(BOOKING_WITH_GUEST.where(bookings.c.id == booking_id)))
                .mappings()
                .first()
            )
        return booking_from_row(row) if row is not None else None

    async def details(self, booking: Booking) -> BookingDetails:
        staff = (
            sa.select(users.c.email)
            .where(users.c.provider_id == providers.c.id, users.c.disabled.is_(False))
            .limit(1)
            .scalar_subquery()
        )
        query = (
            sa.select(
                providers.c.name.label("provider_name"),
                providers.c.time_zone.label("provider_time_zone"),
                staff.label("provider_email"),
                customers.c.name.label("customer_name"),
                customers.c.email.label("customer_email"),
                event_types.c.name.label("event_type_name"),
                event_types.c.description,
                event_types.c.location,
                event_types.c.time_zone.label("event_type_time_zone"),
            )
            .select_from(
                providers.join(customers, customers.c.id == booking.customer_id).outerjoin(
                    event_types, event_types.c.id == booking.event_type_id
                )
            )
            .where(providers.c.id == booking.provider_id)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().one()
        if row["event_type_name"] is not None:
            summary = row["event_type_name"]
            time_zone = row["event_type_time_zone"]
        else:
            summary = f"Appointment with {row['provider_name']}"
            time_zone = row["provider_time_zone"]
        return BookingDetails(
            summary=summary,
            description=row["description"] or "",
            location=row["location"] or "",
            time_zone=time_zone,
            provider_name=row["provider_name"],
            provider_email=row["provider_email"],
            customer=Party(row["customer_email"], row["customer_name"]),
        )

    async def claim(
        self, key: DeliveryKey, *, message_id: str, now: datetime, lease: timedelta
    ) -> DeliveryClaim:
        existing = mail_deliveries.c
        insert = pg_insert(mail_deliveries).values(
            id=uuid.uuid4(),
            event_id=key.event_id,
            booking_id=key.booking_id,
            version=key.version,
            kind=key.kind.value,
            recipient=key.recipient,
            state="claimed",
            message_id=message_id,
            claimed_at=now,
        )
        statement = insert.on_conflict_do_update(
            constraint="mail_deliveries_once_key",
            set_={"claimed_at": now, "attempts": existing.attempts + 1},
            where=sa.and_(existing.state == "claimed", existing.claimed_at <= now - lease),
        ).returning(existing.id, existing.message_id)
        async with self._engine.begin() as conn:
            claimed = (await conn.execute(statement)).first()
            if claimed is not None:
                return DeliveryClaim(ClaimResult.CLAIMED, claimed.id, claimed.message_id)
            row = (
                await conn.execute(
                    sa.select(existing.id, existing.message_id, existing.state).where(
                        existing.booking_id == key.booking_id,
                        existing.version == key.version,
                        existing.kind == key.kind.value,
                        existing.recipient == key.recipient,
                    )
                )
            ).one()
        result = ClaimResult.BUSY if row.state == "claimed" else ClaimResult.DONE
        return DeliveryClaim(result, row.id, row.message_id)

    async def finish(
        self, delivery_id: UUID, result: DeliveryResult, error: str, *, now: datetime
    ) -> bool:
        values: dict[str, object]
        if result is DeliveryResult.SENT:
            values = {"state": "sent", "sent_at": now, "last_error": None}
        elif result is DeliveryResult.FAILED:
            values = {"state": "failed", "failed_at": now, "last_error": error}
        else:
            values = {"claimed_at": _EPOCH, "last_error": error}
        async with self._engine.begin() as conn:
            done = await conn.execute(
                mail_deliveries.update()
                .where(mail_deliveries.c.id == delivery_id, mail_deliveries.c.state == "claimed")
                .values(**values)
            )
        return bool(done.rowcount)

    async def complete_job(self, event_id: int, *, now: datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                mail_jobs.update()
                .where(mail_jobs.c.event_id == event_id, mail_jobs.c.state == "enqueued")
                .values(state="done", done_at=now)
            )

    async def failures(self, organisation_id: UUID, limit: int) -> list[MailFailure]:
        d = mail_deliveries.c
        query = (
            sa.select(
                d.id, d.booking_id, d.kind, d.recipient, d.last_error, d.attempts, d.failed_at
            )
            .select_from(
                mail_deliveries.join(bookings, bookings.c.id == d.booking_id).join(
                    providers, providers.c.id == bookings.c.provider_id
                )
            )
            .where(d.state == "failed", providers.c.organisation_id == organisation_id)
            .order_by(d.failed_at.desc(), d.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            MailFailure(
                delivery_id=row.id,
                booking_id=row.booking_id,
                kind=MailKind(row.kind),
                recipient=row.recipient,
                error=row.last_error or "",
                attempts=row.attempts,
                failed_at=row.failed_at,
            )
            for row in rows
        ]
