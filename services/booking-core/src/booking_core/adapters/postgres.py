"""PostgreSQL adapter: the unit of work, repositories and error translation.

Event ids are the ``events.id`` identity, which PostgreSQL hands out at insert
time, not at commit time. So that ids become visible in increasing order (a
client that has seen id N can replay everything below N), every transaction
that writes events takes one transaction-scoped advisory lock immediately
before inserting them, as its last statement before COMMIT; the lock is
released only after the commit is visible. The serialized section is one
INSERT and the COMMIT.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from types import TracebackType
from typing import Final, Self
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from booking_core.domain.errors import BookingOverlap, NotFound, Unavailable
from booking_core.domain.model import (
    ActorKind,
    Booking,
    BookingStatus,
    Customer,
    ListType,
    LoggedEvent,
    NewEvent,
    Owner,
    Provider,
    Reminder,
    ReminderState,
)
from booking_core.service_layer.ports import DuplicateIdempotencyKey

from .tables import bookings, customers, events, providers, reminders

# pg_advisory_xact_lock keys (arbitrary, project-wide constants).
EVENT_SEQUENCER_LOCK: Final = 0x626B_0001
OUTBOX_RELAY_LOCK: Final = 0x626B_0002

# SQLSTATE classes meaning "the database is not reachable or going away":
# 08 connection exception, 57P operator intervention (shutdown, cannot connect
# now), 53 insufficient resources (too many connections).
_UNAVAILABLE_SQLSTATE_PREFIXES: Final = ("08", "57P", "53")


def create_engine(url: str, *, pool_size: int = 10, connect_timeout: float = 5.0) -> AsyncEngine:
    """An asyncpg engine whose pool survives a PostgreSQL restart (pre-ping, bounded waits).

    ``connect_timeout`` (seconds) bounds connecting and waiting for a pooled
    connection, so an unreachable database fails fast with ``Unavailable``.
    """
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=connect_timeout,
        connect_args={
            "timeout": connect_timeout,
            "command_timeout": 30,
            "server_settings": {"application_name": "booking-core"},
        },
    )


def sqlstate_of(exc: BaseException) -> tuple[str | None, str | None]:
    """Return ``(sqlstate, constraint_name)`` of a SQLAlchemy-wrapped asyncpg error."""
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    cause = getattr(orig, "__cause__", None)
    return sqlstate, getattr(cause, "constraint_name", None)


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be reached (retrying later may work)."""
    if isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError, sa.exc.TimeoutError)):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated or isinstance(
            exc, (sa.exc.InterfaceError, sa.exc.OperationalError)
        ):
            return True
        sqlstate, _ = sqlstate_of(exc)
        return sqlstate is not None and sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)
    return False


def _owned_by(table: sa.Table, owner: Owner) -> sa.ColumnElement[bool]:
    """``customer_id = :id`` or ``provider_id = :id`` on a table that has both."""
    column = "customer_id" if owner.kind is ActorKind.CUSTOMER else "provider_id"
    return table.c[column] == owner.id


def _booking(row: RowMapping) -> Booking:
    return Booking(
        id=row["id"],
        provider_id=row["provider_id"],
        customer_id=row["customer_id"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        status=BookingStatus(row["status"]),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        idempotency_key=row["idempotency_key"],
        request_fingerprint=row["request_fingerprint"],
        cancelled_at=row["cancelled_at"],
        cancel_reason=row["cancel_reason"],
    )


def logged_event(row: RowMapping) -> LoggedEvent:
    """Map an ``events`` row to a ``LoggedEvent``."""
    return LoggedEvent(
        id=row["id"],
        type=row["type"],
        booking_id=row["booking_id"],
        provider_id=row["provider_id"],
        customer_id=row["customer_id"],
        data=row["payload"],
        occurred_at=row["created_at"],
        request_id=row["request_id"],
    )


class SqlBookingRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, booking: Booking) -> None:
        try:
            await self._conn.execute(
                bookings.insert().values(
                    id=booking.id,
                    provider_id=booking.provider_id,
                    customer_id=booking.customer_id,
                    start_time=booking.start_time,
                    end_time=booking.end_time,
                    status=booking.status.value,
                    idempotency_key=booking.idempotency_key,
                    request_fingerprint=booking.request_fingerprint,
                    version=booking.version,
                    created_at=booking.created_at,
                    updated_at=booking.updated_at,
                )
            )
        except sa.exc.IntegrityError as exc:
            _, constraint = sqlstate_of(exc)
            if constraint == "bookings_no_overlap":
                raise BookingOverlap("the slot overlaps another booking of this provider") from None
            if constraint == "bookings_provider_idempotency_key":
                raise DuplicateIdempotencyKey() from None
            if constraint == "bookings_provider_id_fkey":
                raise NotFound("provider not found") from None
            if constraint == "bookings_customer_id_fkey":
                raise NotFound("customer not found") from None
            raise

    async def get(self, booking_id: UUID, *, for_update: bool = False) -> Booking | None:
        query = sa.select(bookings).where(bookings.c.id == booking_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().first()
        return _booking(row) if row is not None else None

    async def get_by_idempotency_key(self, provider_id: UUID, key: str) -> Booking | None:
        query = sa.select(bookings).where(
            bookings.c.provider_id == provider_id, bookings.c.idempotency_key == key
        )
        row = (await self._conn.execute(query)).mappings().first()
        return _booking(row) if row is not None else None

    async def save(self, booking: Booking) -> None:
        await self._conn.execute(
            bookings.update()
            .where(bookings.c.id == booking.id)
            .values(
                status=booking.status.value,
                version=booking.version,
                cancelled_at=booking.cancelled_at,
                cancel_reason=booking.cancel_reason,
                updated_at=booking.updated_at,
            )
        )

    async def list_page(
        self,
        owner: Owner,
        list_type: ListType,
        *,
        now: datetime,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[Booking]:
        key = sa.tuple_(bookings.c.start_time, bookings.c.id)
        query = sa.select(bookings).where(_owned_by(bookings, owner)).limit(limit)
        if list_type is ListType.UPCOMING:
            query = query.where(bookings.c.start_time >= now).order_by(
                bookings.c.start_time, bookings.c.id
            )
            if after is not None:
                query = query.where(key > sa.tuple_(*after))
        else:
            query = query.where(bookings.c.start_time < now).order_by(
                bookings.c.start_time.desc(), bookings.c.id.desc()
            )
            if after is not None:
                query = query.where(key < sa.tuple_(*after))
        rows = (await self._conn.execute(query)).mappings().all()
        return [_booking(row) for row in rows]


class SqlReminderRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, reminder: Reminder) -> None:
        await self._conn.execute(
            reminders.insert().values(
                booking_id=reminder.booking_id, due_at=reminder.due_at, state="scheduled"
            )
        )

    async def get(self, booking_id: UUID, *, for_update: bool = False) -> Reminder | None:
        query = sa.select(reminders).where(reminders.c.booking_id == booking_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().first()
        if row is None:
            return None
        return Reminder(row["booking_id"], row["due_at"], ReminderState(row["state"]))

    async def mark_sent(self, booking_id: UUID, *, now: datetime) -> None:
        await self._conn.execute(
            reminders.update()
            .where(reminders.c.booking_id == booking_id)
            .values(state="sent", sent_at=now)
        )

    async def cancel(self, booking_id: UUID) -> None:
        await self._conn.execute(
            reminders.update()
            .where(
                reminders.c.booking_id == booking_id,
                reminders.c.state.in_(["scheduled", "enqueued"]),
            )
            .values(state="cancelled")
        )


class SqlDirectory:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add_provider(self, provider: Provider) -> None:
        await self._conn.execute(
            providers.insert().values(
                id=provider.id,
                name=provider.name,
                time_zone=provider.time_zone,
                created_at=provider.created_at,
            )
        )

    async def add_customer_or_get(self, customer: Customer) -> tuple[Customer, bool]:
        inserted = await self._conn.execute(
            pg_insert(customers)
            .values(
                id=customer.id,
                name=customer.name,
                email=customer.email,
                created_at=customer.created_at,
            )
            .on_conflict_do_nothing(index_elements=[sa.func.lower(customers.c.email)])
            .returning(customers.c.id)
        )
        if inserted.first() is not None:
            return customer, True
        row = (
            (
                await self._conn.execute(
                    sa.select(customers).where(
                        sa.func.lower(customers.c.email) == customer.email.lower()
                    )
                )
            )
            .mappings()
            .one()
        )
        return Customer(row["id"], row["name"], row["email"], row["created_at"]), False


class SqlEventLog:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def list_after(self, owner: Owner | None, after_id: int, limit: int) -> list[LoggedEvent]:
        query = sa.select(events).where(events.c.id > after_id).order_by(events.c.id).limit(limit)
        if owner is not None:
            query = query.where(_owned_by(events, owner))
        return [logged_event(row) for row in (await self._conn.execute(query)).mappings()]

    async def head_id(self) -> int:
        head = await self._conn.scalar(sa.select(sa.func.max(events.c.id)))
        return int(head or 0)

    async def find(self, booking_id: UUID, event_type: str) -> tuple[LoggedEvent, bool] | None:
        query = (
            sa.select(events)
            .where(events.c.booking_id == booking_id, events.c.type == event_type)
            .order_by(events.c.id)
            .limit(1)
        )
        row = (await self._conn.execute(query)).mappings().first()
        return None if row is None else (logged_event(row), row["published_at"] is not None)

    async def mark_published(self, event_id: int) -> None:
        await self._conn.execute(
            events.update()
            .where(events.c.id == event_id, events.c.published_at.is_(None))
            .values(published_at=sa.func.now())
        )


class SqlUnitOfWork:
    """A transaction on one pooled connection; see the module docstring for event ids.

    Database unreachability inside the block surfaces as ``Unavailable``.
    """

    bookings: SqlBookingRepository
    reminders: SqlReminderRepository
    directory: SqlDirectory
    events: SqlEventLog

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._staged: list[NewEvent] = []

    async def __aenter__(self) -> Self:
        try:
            self._conn = await self._engine.connect()
            await self._conn.begin()
        except Exception as exc:
            if self._conn is not None:
                await self._close_quietly()
            if is_unavailable(exc):
                raise Unavailable("the database is unavailable") from exc
            raise
        self.bookings = SqlBookingRepository(self._conn)
        self.reminders = SqlReminderRepository(self._conn)
        self.directory = SqlDirectory(self._conn)
        self.events = SqlEventLog(self._conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close_quietly()
        if exc is not None and is_unavailable(exc):
            raise Unavailable("the database is unavailable") from exc

    async def _close_quietly(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        # Closing rolls back whatever was not committed; a broken connection
        # is discarded by the pool.
        with contextlib.suppress(Exception):
            await conn.close()

    def append_event(self, event: NewEvent) -> None:
        self._staged.append(event)

    async def commit(self) -> list[LoggedEvent]:
        assert self._conn is not None, "commit() outside the unit of work"
        written: list[LoggedEvent] = []
        if self._staged:
            await self._conn.execute(sa.select(sa.func.pg_advisory_xact_lock(EVENT_SEQUENCER_LOCK)))
            result = await self._conn.execute(
                events.insert()
                .values(
                    [
                        {
                            "type": e.type,
                            "booking_id": e.booking_id,
                            "provider_id": e.provider_id,
                            "customer_id": e.customer_id,
                            "payload": e.data,
                            "request_id": e.request_id,
                        }
                        for e in self._staged
                    ]
                )
                .returning(events)
            )
            written = sorted((logged_event(row) for row in result.mappings()), key=lambda e: e.id)
        await self._conn.commit()
        self._staged.clear()
        return written
