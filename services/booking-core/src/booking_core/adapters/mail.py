"""The mail store on PostgreSQL: mail-worthy events and their bookings, the delivery
records (``mail_deliveries``) and the mail jobs (``mail_jobs``).

A claim is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statement: the
unique key (booking, version, kind, recipient) makes a second concurrent claim
wait for the first and then see it, so two workers never both get ``CLAIMED``
for a live claim.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from booking_core.domain.mail import BookingDetails, MailKind, Party
from booking_core.domain.model import Booking
from booking_core.service_layer.mail_ports import (
    ClaimResult,
    DeliveryClaim,
    DeliveryKey,
    DeliveryResult,
    MailFailure,
    MailSource,
)

from .bookings_read import BOOKING_WITH_GUEST, booking_from_row
from .prepared import Prepared
from .session import Session
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


def _staff_email() -> sa.ScalarSelect[str]:
    """The email of the provider's first enabled staff account (correlated)."""
    return (
        sa.select(users.c.email)
        .where(users.c.provider_id == providers.c.id, users.c.disabled.is_(False))
        .limit(1)
        .scalar_subquery()
    )


# The columns ``_details`` reads, beside a query joining providers, customers and
# (outer) event_types.
_DETAIL_COLUMNS: Final = (
    providers.c.name.label("provider_name"),
    providers.c.time_zone.label("provider_time_zone"),
    _staff_email().label("provider_email"),
    customers.c.name.label("customer_name"),
    customers.c.email.label("customer_email"),
    event_types.c.name.label("event_type_name"),
    event_types.c.description.label("event_type_description"),
    event_types.c.location.label("event_type_location"),
    event_types.c.time_zone.label("event_type_time_zone"),
)
# An event's mail in one query: the event, its booking with the guest and the
# provider (``BOOKING_WITH_GUEST``), the customer and the event type. An event on
# a public channel, or of a booking that is not in ``bookings``, matches nothing.
_SOURCE: Final = Prepared(
    BOOKING_WITH_GUEST.add_columns(events.c.type.label("event_type"), *_DETAIL_COLUMNS)
    .join(customers, customers.c.id == bookings.c.customer_id)
    .outerjoin(event_types, event_types.c.id == bookings.c.event_type_id)
    .join(events, events.c.booking_id == bookings.c.id)
    .where(events.c.id == sa.bindparam("event_id"), events.c.channel.is_(None))
)


def _details(row: Mapping[Any, Any]) -> BookingDetails:
    if row["event_type_name"] is not None:
        summary = row["event_type_name"]
        time_zone = row["event_type_time_zone"]
    else:
        summary = f"Appointment with {row['provider_name']}"
        time_zone = row["provider_time_zone"]
    return BookingDetails(
        summary=summary,
        description=row["event_type_description"] or "",
        location=row["event_type_location"] or "",
        time_zone=time_zone,
        provider_name=row["provider_name"],
        provider_email=row["provider_email"],
        customer=Party(row["customer_email"], row["customer_name"]),
    )


_d = mail_deliveries.c
_SAME_KEY: Final = sa.and_(
    _d.booking_id == sa.bindparam("booking_id"),
    _d.version == sa.bindparam("version"),
    _d.kind == sa.bindparam("kind"),
    _d.recipient == sa.bindparam("recipient"),
)
# A new claim, or the takeover of a claim older than the lease.
_CLAIMED: Final = (
    pg_insert(mail_deliveries)
    .values(
        id=sa.bindparam("id"),
        event_id=sa.bindparam("event_id"),
        booking_id=sa.bindparam("booking_id"),
        version=sa.bindparam("version"),
        kind=sa.bindparam("kind"),
        recipient=sa.bindparam("recipient"),
        state="claimed",
        message_id=sa.bindparam("message_id"),
        claimed_at=sa.bindparam("now"),
    )
    .on_conflict_do_update(
        constraint="mail_deliveries_once_key",
        set_={"claimed_at": sa.bindparam("now"), "attempts": _d.attempts + 1},
        where=sa.and_(_d.state == "claimed", _d.claimed_at <= sa.bindparam("taken_over_before")),
    )
    .returning(_d.id, _d.message_id)
    .cte("claimed")
)
# The claim, or else the delivery that stood before this statement: one round trip.
# (The second SELECT reads the statement's snapshot, which misses a delivery that
# another claim inserted while this one waited on the key: ``_DELIVERY`` reads it.)
_CLAIM: Final = Prepared(
    sa.union_all(
        sa.select(
            _CLAIMED.c.id,
            _CLAIMED.c.message_id,
            sa.literal("claimed").label("state"),
            sa.true().label("won"),
        ),
        sa.select(_d.id, _d.message_id, _d.state, sa.false()).where(
            _SAME_KEY, ~sa.exists(sa.select(_CLAIMED.c.id))
        ),
    )
)
_DELIVERY: Final = Prepared(
    sa.select(_d.id, _d.message_id, _d.state, sa.false().label("won")).where(_SAME_KEY)
)
_LIVE_CLAIM: Final = (
    mail_deliveries.update()
    .where(_d.id == sa.bindparam("delivery_id"), _d.state == "claimed")
    .returning(_d.event_id)
)
_FINISH: Final = {
    DeliveryResult.SENT: Prepared(
        _LIVE_CLAIM.values(state="sent", sent_at=sa.bindparam("now"), last_error=None)
    ),
    DeliveryResult.FAILED: Prepared(
        _LIVE_CLAIM.values(
            state="failed", failed_at=sa.bindparam("now"), last_error=sa.bindparam("error")
        )
    ),
    # Released: any later claim takes it over.
    DeliveryResult.RETRY: Prepared(
        _LIVE_CLAIM.values(claimed_at=_EPOCH, last_error=sa.bindparam("error"))
    ),
}
_COMPLETE_JOB: Final = Prepared(
    mail_jobs.update()
    .where(mail_jobs.c.event_id == sa.bindparam("job_event_id"), mail_jobs.c.state == "enqueued")
    .values(state="done", done_at=sa.bindparam("now"))
)


class SqlMailStore:
    """Implements ``MailStore``. Each call is one statement, compiled once and run on
    asyncpg (``Prepared``) outside any transaction: its own transaction, one round
    trip; except a claim that finds another claim being made at the same moment,
    which reads the winner with a second one."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def _fetch(
        self, *statements: tuple[Prepared, Mapping[str, Any]]
    ) -> Sequence[Mapping[str, Any]]:
        """The rows of the first statement that returns any, in order, on one pooled
        connection (``[]`` when none does)."""
        async with self._engine.connect() as conn:
            session = Session(conn)
            for prepared, parameters in statements:
                rows = await session.fetch(prepared, parameters)
                if rows:
                    return rows
        return []

    async def source(self, event_id: int) -> MailSource | None:
        rows = await self._fetch((_SOURCE, {"event_id": event_id}))
        if not rows:
            return None
        row = rows[0]
        return MailSource(row["event_type"], booking_from_row(row), _details(row))

    async def details(self, booking: Booking) -> BookingDetails:
        query = (
            sa.select(*_DETAIL_COLUMNS)
            .select_from(
                providers.join(customers, customers.c.id == booking.customer_id).outerjoin(
                    event_types, event_types.c.id == booking.event_type_id
                )
            )
            .where(providers.c.id == booking.provider_id)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().one()
        return _details(row)

    async def claim(
        self, key: DeliveryKey, *, message_id: str, now: datetime, lease: timedelta
    ) -> DeliveryClaim:
        parameters = {
            "id": uuid.uuid4(),
            "event_id": key.event_id,
            "booking_id": key.booking_id,
            "version": key.version,
            "kind": key.kind.value,
            "recipient": key.recipient,
            "message_id": message_id,
            "now": now,
            "taken_over_before": now - lease,
        }
        rows = await self._fetch((_CLAIM, parameters), (_DELIVERY, parameters))
        if not rows:  # pragma: no cover - the key's row exists once the claim statement ran
            raise RuntimeError("a claimed delivery vanished")
        row = rows[0]
        if row["won"]:
            return DeliveryClaim(ClaimResult.CLAIMED, row["id"], row["message_id"])
        result = ClaimResult.BUSY if row["state"] == "claimed" else ClaimResult.DONE
        return DeliveryClaim(result, row["id"], row["message_id"])

    async def finish(
        self, delivery_id: UUID, result: DeliveryResult, error: str, *, now: datetime
    ) -> int | None:
        parameters = {"delivery_id": delivery_id, "now": now, "error": error}
        rows = await self._fetch((_FINISH[result], parameters))
        return int(rows[0]["event_id"]) if rows else None

    async def complete_job(self, event_id: int, *, now: datetime) -> None:
        await self._fetch((_COMPLETE_JOB, {"job_event_id": event_id, "now": now}))

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
