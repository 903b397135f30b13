"""PostgreSQL repositories of the event-type context.

Rules are stored as jsonb value objects (``dated_windows``, ``weekly_hours``,
``date_exceptions``); slugs live in ``event_type_slugs``, one namespace for
random and custom slugs. Capacity is ``slot_occupancy``: taking a place is one
upsert that increments ``booked`` only while it is below the type's capacity,
under the provider's advisory lock (the same lock a booking insert takes, so
every write to a provider's calendar queues in one order).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping

from booking_core.domain.errors import NotFound
from booking_core.domain.event_types import (
    EventType,
    EventTypeSpec,
    format_local_time,
    parse_local_time,
)
from booking_core.domain.guests import Guest
from booking_core.domain.slots import BusyInterval, DatedWindow, SlotRules, WeeklyHours
from booking_core.service_layer.event_type_ports import PublicListing
from booking_core.service_layer.ports import SlotState

from .locks import PROVIDER_LOCK_CLASS
from .session import Session, sqlstate_of
from .tables import (
    ACTIVE_STATUSES,
    booking_guests,
    bookings,
    event_type_slugs,
    event_types,
    providers,
    slot_occupancy,
)


def rules_to_json(rules: SlotRules) -> dict[str, list[Any]]:
    """The jsonb columns of ``rules``."""
    return {
        "dated_windows": [
            {"start": w.start.isoformat(), "end": w.end.isoformat()} for w in rules.dated_windows
        ],
        "weekly_hours": [
            {
                "weekday": h.weekday,
                "from": format_local_time(h.from_minute),
                "to": format_local_time(h.to_minute),
            }
            for h in rules.weekly_hours
        ],
        "date_exceptions": sorted(d.isoformat() for d in rules.date_exceptions),
    }


def rules_from_json(row: RowMapping) -> SlotRules:
    return SlotRules(
        dated_windows=tuple(
            DatedWindow(datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]))
            for w in row["dated_windows"]
        ),
        weekly_hours=tuple(
            WeeklyHours(
                h["weekday"],
                parse_local_time(h["from"], "from", allow_midnight_end=False),
                parse_local_time(h["to"], "to", allow_midnight_end=True),
            )
            for h in row["weekly_hours"]
        ),
        date_exceptions=frozenset(date.fromisoformat(d) for d in row["date_exceptions"]),
    )


def event_type_row(event_type: EventType) -> dict[str, Any]:
    """The ``event_types`` row of an event type (slugs are rows of their own)."""
    spec = event_type.spec
    return {
        "id": event_type.id,
        "provider_id": event_type.provider_id,
        "name": spec.name,
        "description": spec.description,
        "location": spec.location,
        "time_zone": spec.time_zone,
        "period_minutes": spec.period_minutes,
        "capacity": spec.capacity,
        "buffer_before_minutes": spec.buffer_before_minutes,
        "buffer_after_minutes": spec.buffer_after_minutes,
        "minimum_notice_minutes": spec.minimum_notice_minutes,
        "booking_horizon_days": spec.booking_horizon_days,
        "allow_multiple_places_per_guest": spec.allow_multiple_places_per_guest,
        **rules_to_json(spec.rules),
        "active": event_type.active,
        "version": event_type.version,
        "created_at": event_type.created_at,
        "updated_at": event_type.updated_at,
    }


def _slug_of(*, custom: bool) -> sa.ScalarSelect[Any]:
    return (
        sa.select(event_type_slugs.c.slug)
        .where(
            event_type_slugs.c.event_type_id == event_types.c.id,
            event_type_slugs.c.custom.is_(custom),
        )
        .scalar_subquery()
    )


EVENT_TYPE_WITH_SLUGS: Final = sa.select(
    event_types,
    _slug_of(custom=False).label("slug"),
    _slug_of(custom=True).label("custom_slug"),
)


def _event_type(row: RowMapping) -> EventType:
    spec = EventTypeSpec(
        name=row["name"],
        description=row["description"],
        location=row["location"],
        time_zone=row["time_zone"],
        period_minutes=row["period_minutes"],
        capacity=row["capacity"],
        buffer_before_minutes=row["buffer_before_minutes"],
        buffer_after_minutes=row["buffer_after_minutes"],
        minimum_notice_minutes=row["minimum_notice_minutes"],
        booking_horizon_days=row["booking_horizon_days"],
        rules=rules_from_json(row),
        custom_slug=row["custom_slug"],
        allow_multiple_places_per_guest=row["allow_multiple_places_per_guest"],
    )
    return EventType(
        id=row["id"],
        provider_id=row["provider_id"],
        spec=spec,
        slug=row["slug"],
        active=row["active"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SqlEventTypeRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, event_type: EventType) -> None:
        try:
            await self._session.write(event_types.insert().values(**event_type_row(event_type)))
        except sa.exc.IntegrityError as exc:
            if sqlstate_of(exc)[1] == "event_types_provider_id_fkey":
                raise NotFound("provider not found") from None
            raise

    async def claim_slug(self, event_type_id: UUID, slug: str, *, custom: bool) -> bool:
        inserted = await self._session.write(
            pg_insert(event_type_slugs)
            .values(slug=slug, event_type_id=event_type_id, custom=custom)
            .on_conflict_do_nothing(index_elements=[event_type_slugs.c.slug])
            .returning(event_type_slugs.c.slug)
        )
        return inserted.first() is not None

    async def release_custom_slug(self, event_type_id: UUID) -> None:
        await self._session.write(
            event_type_slugs.delete().where(
                event_type_slugs.c.event_type_id == event_type_id,
                event_type_slugs.c.custom.is_(True),
            )
        )

    async def get(self, event_type_id: UUID, *, for_update: bool = False) -> EventType | None:
        query = EVENT_TYPE_WITH_SLUGS.where(event_types.c.id == event_type_id)
        if for_update:
            query = query.with_for_update(of=event_types)
            row = (await self._session.write(query)).mappings().first()
        else:
            row = (await self._session.read(query)).mappings().first()
        return _event_type(row) if row is not None else None

    async def save(self, event_type: EventType) -> None:
        row = event_type_row(event_type)
        for fixed in ("id", "provider_id", "created_at"):
            del row[fixed]
        await self._session.write(
            event_types.update().where(event_types.c.id == event_type.id).values(**row)
        )

    async def find_by_slug(self, slug: str) -> PublicListing | None:
        matched = (
            sa.select(event_type_slugs.c.event_type_id)
            .where(event_type_slugs.c.slug == slug)
            .scalar_subquery()
        )
        query = (
            EVENT_TYPE_WITH_SLUGS.add_columns(providers.c.name.label("provider_name"))
            .join(providers, providers.c.id == event_types.c.provider_id)
            .where(event_types.c.id == matched)
        )
        row = (await self._session.read(query)).mappings().first()
        if row is None:
            return None
        return PublicListing(_event_type(row), row["provider_name"])

    async def list_page(
        self, provider_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[EventType]:
        query = (
            EVENT_TYPE_WITH_SLUGS.where(event_types.c.provider_id == provider_id)
            .order_by(event_types.c.created_at, event_types.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(
                sa.tuple_(event_types.c.created_at, event_types.c.id) > sa.tuple_(*after)
            )
        rows = (await self._session.read(query)).mappings().all()
        return [_event_type(row) for row in rows]


def _capacity_of(event_type_id: Any) -> sa.ScalarSelect[Any]:
    return (
        sa.select(event_types.c.capacity).where(event_types.c.id == event_type_id).scalar_subquery()
    )


def _random_slug_of(event_type_id: Any) -> sa.ScalarSelect[Any]:
    return (
        sa.select(event_type_slugs.c.slug)
        .where(
            event_type_slugs.c.event_type_id == event_type_id,
            event_type_slugs.c.custom.is_(False),
        )
        .scalar_subquery()
    )


def _take_statement() -> sa.Executable:
    et = sa.bindparam("event_type_id", type_=slot_occupancy.c.event_type_id.type)
    start = sa.bindparam("start_time", type_=slot_occupancy.c.start_time.type)
    provider = sa.bindparam("provider_id", type_=bookings.c.provider_id.type)
    lock = sa.select(
        sa.func.pg_advisory_xact_lock(
            sa.literal(PROVIDER_LOCK_CLASS, sa.Integer),
            sa.func.hashtext(sa.cast(provider, sa.Text)),
        ).label("locked")
    ).cte("provider_lock")
    row = sa.select(
        et.label("event_type_id"), start.label("start_time"), sa.literal(1)
    ).select_from(lock)
    statement = pg_insert(slot_occupancy).from_select(
        ["event_type_id", "start_time", "booked"], row
    )
    # The subqueries take the bound id: SQLAlchemy does not correlate them to the
    # INSERT's target table.
    return statement.on_conflict_do_update(
        index_elements=[slot_occupancy.c.event_type_id, slot_occupancy.c.start_time],
        set_={"booked": slot_occupancy.c.booked + 1},
        where=slot_occupancy.c.booked < _capacity_of(et),
    ).returning(
        slot_occupancy.c.booked,
        _capacity_of(et).label("capacity"),
        _random_slug_of(et).label("slug"),
    )


TAKE_PLACE: Final = _take_statement()
# Bind names must differ from column names in an UPDATE.
_RELEASED: Final = sa.bindparam("slot_event_type_id", type_=slot_occupancy.c.event_type_id.type)
RELEASE_PLACE: Final = (
    slot_occupancy.update()
    .where(
        slot_occupancy.c.event_type_id == _RELEASED,
        slot_occupancy.c.start_time == sa.bindparam("slot_start_time"),
    )
    .values(booked=slot_occupancy.c.booked - 1)
    .returning(
        slot_occupancy.c.booked,
        _capacity_of(_RELEASED).label("capacity"),
        _random_slug_of(_RELEASED).label("slug"),
    )
)


class SqlSlotOccupancy:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def take(
        self, event_type_id: UUID, provider_id: UUID, start: datetime
    ) -> SlotState | None:
        # The provider's lock first, as every booking insert takes it: one order.
        result = await self._session.write(
            TAKE_PLACE,
            {"event_type_id": event_type_id, "start_time": start, "provider_id": provider_id},
        )
        row = result.mappings().first()
        if row is None:
            return None
        return SlotState(row["slug"], row["capacity"], row["booked"])

    async def release(self, event_type_id: UUID, start: datetime) -> SlotState:
        result = await self._session.write(
            RELEASE_PLACE, {"slot_event_type_id": event_type_id, "slot_start_time": start}
        )
        row = result.mappings().one()
        return SlotState(row["slug"], row["capacity"], row["booked"])

    async def booked_between(
        self, event_type_id: UUID, start: datetime, end: datetime
    ) -> dict[datetime, int]:
        query = sa.select(slot_occupancy.c.start_time, slot_occupancy.c.booked).where(
            slot_occupancy.c.event_type_id == event_type_id,
            slot_occupancy.c.start_time >= start,
            slot_occupancy.c.start_time < end,
            slot_occupancy.c.booked > 0,
        )
        return {row.start_time: row.booked for row in await self._session.read(query)}


# The exclusion constraint's own expressions, so the query can use its GiST index.
BUSY_RANGE: Final = sa.func.tstzrange(
    sa.func.coalesce(bookings.c.busy_start, bookings.c.start_time),
    sa.func.coalesce(bookings.c.busy_end, bookings.c.end_time),
    "[)",
)


class SqlProviderCalendar:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def busy_between(
        self, provider_id: UUID, start: datetime, end: datetime
    ) -> list[BusyInterval]:
        query = sa.select(
            sa.func.coalesce(bookings.c.busy_start, bookings.c.start_time).label("start"),
            sa.func.coalesce(bookings.c.busy_end, bookings.c.end_time).label("end"),
            sa.func.coalesce(bookings.c.slot_id, bookings.c.id).label("slot_id"),
        ).where(
            bookings.c.provider_id == provider_id,
            bookings.c.status.in_(ACTIVE_STATUSES),
            BUSY_RANGE.op("&&")(sa.func.tstzrange(start, end, "[)")),
        )
        rows = await self._session.read(query)
        return [BusyInterval(row.start, row.end, row.slot_id) for row in rows]


class SqlGuestBookings:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, booking_id: UUID, reference: str, token_hash: bytes, guest: Guest) -> bool:
        inserted = await self._session.write(
            pg_insert(booking_guests)
            .values(
                booking_id=booking_id,
                reference=reference,
                manage_token_hash=token_hash,
                first_name=guest.first_name,
                last_name=guest.last_name,
                email=guest.email,
                phone=guest.phone,
                address=guest.address,
                special_requests=guest.special_requests,
            )
            .on_conflict_do_nothing(constraint="booking_guests_reference_key")
            .returning(booking_guests.c.booking_id)
        )
        return inserted.first() is not None

    async def find(self, reference: str) -> tuple[UUID, bytes] | None:
        query = sa.select(booking_guests.c.booking_id, booking_guests.c.manage_token_hash).where(
            booking_guests.c.reference == reference
        )
        row = (await self._session.read(query)).first()
        return None if row is None else (row.booking_id, bytes(row.manage_token_hash))
