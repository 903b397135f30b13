"""PostgreSQL repositories of the event-type context.

Rules are stored as jsonb value objects (``dated_windows``, ``weekly_hours``,
``date_exceptions``); slugs live in ``event_type_slugs``, one namespace for
random and custom slugs. Capacity is ``slot_occupancy``, one row per (event
type, slot, hosting provider): taking a place is one upsert that increments
``booked`` only while it is below the type's capacity, under the provider's
advisory lock (the lock a booking insert takes, so places taken and bookings
inserted for one provider queue in one order). Giving a place back needs no
such lock: it only ever lowers ``booked``, under the row's own lock.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from booking_core.domain.model import Booking
from booking_core.domain.slots import BusyInterval, DatedWindow, SlotRules, WeeklyHours
from booking_core.service_layer.event_type_ports import AssignmentStats, Host, PublicListing

from .bookings_read import BOOKING_WITH_GUEST, booking_from_row
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
    team_members,
    teams,
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
        "team_id": event_type.team_id,
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
        "allow_member_choice": spec.allow_member_choice,
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


def _owner_column(provider_column: sa.Column[Any], team_column: sa.Column[Any]) -> Any:
    """The provider's value for a provider's event type, else the team's."""
    by_provider = (
        sa.select(provider_column)
        .where(providers.c.id == event_types.c.provider_id)
        .scalar_subquery()
    )
    by_team = sa.select(team_column).where(teams.c.id == event_types.c.team_id).scalar_subquery()
    return sa.func.coalesce(by_provider, by_team)


EVENT_TYPE_WITH_SLUGS: Final = sa.select(
    event_types,
    _slug_of(custom=False).label("slug"),
    _slug_of(custom=True).label("custom_slug"),
    _owner_column(providers.c.organisation_id, teams.c.organisation_id).label("organisation_id"),
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
        allow_member_choice=row["allow_member_choice"],
    )
    return EventType(
        id=row["id"],
        provider_id=row["provider_id"],
        team_id=row["team_id"],
        organisation_id=row["organisation_id"],
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
            constraint = sqlstate_of(exc)[1]
            if constraint == "event_types_provider_id_fkey":
                raise NotFound("provider not found") from None
            if constraint == "event_types_team_id_fkey":
                raise NotFound("team not found") from None
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
            # FOR NO KEY UPDATE: bookings and places (whose foreign keys take KEY SHARE
            # locks on the row) go on while the event type is edited.
            query = query.with_for_update(of=event_types, key_share=True)
            row = (await self._session.write(query)).mappings().first()
        else:
            row = (await self._session.read(query)).mappings().first()
        return _event_type(row) if row is not None else None

    async def save(self, event_type: EventType) -> None:
        row = event_type_row(event_type)
        for fixed in ("id", "provider_id", "team_id", "created_at"):
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
        query = EVENT_TYPE_WITH_SLUGS.add_columns(
            _owner_column(providers.c.name, teams.c.name).label("owner_name")
        ).where(event_types.c.id == matched)
        row = (await self._session.read(query)).mappings().first()
        if row is None:
            return None
        event_type = _event_type(row)
        return PublicListing(event_type, row["owner_name"], await self.hosts(event_type))

    async def hosts(self, event_type: EventType) -> tuple[Host, ...]:
        if event_type.provider_id is not None:
            query = sa.select(providers.c.id, providers.c.name).where(
                providers.c.id == event_type.provider_id
            )
        else:
            query = (
                sa.select(providers.c.id, providers.c.name)
                .join(team_members, team_members.c.provider_id == providers.c.id)
                .where(team_members.c.team_id == event_type.team_id)
                .order_by(providers.c.name, providers.c.id)
            )
        return tuple(Host(row.id, row.name) for row in await self._session.read(query))

    async def list_page(
        self,
        *,
        provider_id: UUID | None = None,
        team_id: UUID | None = None,
        organisation_id: UUID | None = None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[EventType]:
        query = EVENT_TYPE_WITH_SLUGS.order_by(event_types.c.created_at, event_types.c.id).limit(
            limit
        )
        if provider_id is not None:
            query = query.where(event_types.c.provider_id == provider_id)
        elif team_id is not None:
            query = query.where(event_types.c.team_id == team_id)
        else:
            in_organisation = sa.or_(
                event_types.c.provider_id.in_(
                    sa.select(providers.c.id).where(providers.c.organisation_id == organisation_id)
                ),
                event_types.c.team_id.in_(
                    sa.select(teams.c.id).where(teams.c.organisation_id == organisation_id)
                ),
            )
            query = query.where(in_organisation)
        if after is not None:
            query = query.where(
                sa.tuple_(event_types.c.created_at, event_types.c.id) > sa.tuple_(*after)
            )
        rows = (await self._session.read(query)).mappings().all()
        return [_event_type(row) for row in rows]


def _take_statement() -> sa.Executable:
    et = sa.bindparam("event_type_id", type_=slot_occupancy.c.event_type_id.type)
    start = sa.bindparam("start_time", type_=slot_occupancy.c.start_time.type)
    provider = sa.bindparam("provider_id", type_=slot_occupancy.c.provider_id.type)
    lock = sa.select(
        sa.func.pg_advisory_xact_lock(
            sa.literal(PROVIDER_LOCK_CLASS, sa.Integer),
            sa.func.hashtext(sa.cast(provider, sa.Text)),
        ).label("locked")
    ).cte("provider_lock")
    capacity = sa.select(event_types.c.capacity).where(event_types.c.id == et).scalar_subquery()
    row = sa.select(
        et.label("event_type_id"),
        start.label("start_time"),
        provider.label("provider_id"),
        sa.literal(1),
    ).select_from(lock)
    statement = pg_insert(slot_occupancy).from_select(
        ["event_type_id", "start_time", "provider_id", "booked"], row
    )
    # The capacity subquery takes the bound id: SQLAlchemy does not correlate it to
    # the INSERT's target table.
    return statement.on_conflict_do_update(
        index_elements=[
            slot_occupancy.c.event_type_id,
            slot_occupancy.c.start_time,
            slot_occupancy.c.provider_id,
        ],
        set_={"booked": slot_occupancy.c.booked + 1},
        where=slot_occupancy.c.booked < capacity,
    ).returning(slot_occupancy.c.booked)


TAKE_PLACE: Final = _take_statement()
# Bind names must differ from column names in an UPDATE.
RELEASE_PLACE: Final = (
    slot_occupancy.update()
    .where(
        slot_occupancy.c.event_type_id == sa.bindparam("slot_event_type_id"),
        slot_occupancy.c.start_time == sa.bindparam("slot_start_time"),
        slot_occupancy.c.provider_id == sa.bindparam("slot_provider_id"),
    )
    .values(booked=slot_occupancy.c.booked - 1)
)


class SqlSlotOccupancy:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def take(self, event_type_id: UUID, provider_id: UUID, start: datetime) -> bool:
        # The provider's lock first, as every booking insert takes it: one order.
        result = await self._session.write(
            TAKE_PLACE,
            {"event_type_id": event_type_id, "start_time": start, "provider_id": provider_id},
        )
        return result.first() is not None

    async def release(self, event_type_id: UUID, provider_id: UUID, start: datetime) -> None:
        await self._session.write(
            RELEASE_PLACE,
            {
                "slot_event_type_id": event_type_id,
                "slot_start_time": start,
                "slot_provider_id": provider_id,
            },
        )

    async def booked_between(
        self, event_type_id: UUID, start: datetime, end: datetime
    ) -> dict[tuple[datetime, UUID], int]:
        query = sa.select(
            slot_occupancy.c.start_time, slot_occupancy.c.provider_id, slot_occupancy.c.booked
        ).where(
            slot_occupancy.c.event_type_id == event_type_id,
            slot_occupancy.c.start_time >= start,
            slot_occupancy.c.start_time < end,
            slot_occupancy.c.booked > 0,
        )
        rows = await self._session.read(query)
        return {(row.start_time, row.provider_id): row.booked for row in rows}


# The exclusion constraint's own expressions, with its '[)' bound and its active
# statuses as literals, so that even a generic plan of the prepared statement
# matches its partial GiST index.
BUSY_START: Final = sa.func.coalesce(bookings.c.busy_start, bookings.c.start_time)
BUSY_END: Final = sa.func.coalesce(bookings.c.busy_end, bookings.c.end_time)
BUSY_RANGE: Final = sa.func.tstzrange(BUSY_START, BUSY_END, sa.literal_column("'[)'"))
ACTIVE: Final = bookings.c.status.in_(
    sa.bindparam("active_statuses", list(ACTIVE_STATUSES), expanding=True, literal_execute=True)
)


class SqlProviderCalendar:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def busy_between(
        self, provider_ids: Sequence[UUID], start: datetime, end: datetime
    ) -> dict[UUID, list[BusyInterval]]:
        if not provider_ids:
            return {}
        query = sa.select(
            bookings.c.provider_id,
            BUSY_START.label("start"),
            BUSY_END.label("end"),
            sa.func.coalesce(bookings.c.slot_id, bookings.c.id).label("slot_id"),
        ).where(
            bookings.c.provider_id.in_(provider_ids),
            ACTIVE,
            BUSY_RANGE.op("&&")(sa.func.tstzrange(start, end, sa.literal_column("'[)'"))),
        )
        found: dict[UUID, list[BusyInterval]] = {}
        for row in await self._session.read(query):
            found.setdefault(row.provider_id, []).append(
                BusyInterval(row.start, row.end, row.slot_id)
            )
        return found

    async def assignment_stats(
        self,
        event_type_id: UUID,
        provider_ids: Sequence[UUID],
        day_start: datetime,
        day_end: datetime,
    ) -> dict[UUID, AssignmentStats]:
        if not provider_ids:
            return {}
        that_day = sa.func.count().filter(
            bookings.c.start_time >= day_start, bookings.c.start_time < day_end
        )
        last = sa.func.max(bookings.c.created_at).filter(bookings.c.event_type_id == event_type_id)
        query = (
            sa.select(bookings.c.provider_id, that_day.label("day"), last.label("last"))
            .where(bookings.c.provider_id.in_(provider_ids), ACTIVE)
            .group_by(bookings.c.provider_id)
        )
        return {
            row.provider_id: AssignmentStats(row.day, row.last)
            for row in await self._session.read(query)
        }

    async def by_event_type_key(self, event_type_id: UUID, key: str) -> Booking | None:
        query = BOOKING_WITH_GUEST.where(
            bookings.c.event_type_id == event_type_id, bookings.c.idempotency_key == key
        )
        row = (await self._session.read(query)).mappings().first()
        return booking_from_row(row) if row is not None else None


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
