"""PostgreSQL adapter: the unit of work, repositories and error translation.

Round trips are what a request costs here, so the unit of work spends as few
as it can (``bench/RESULTS.md`` has the measurements):

- A unit of work's connection starts in autocommit: a plain read is one round
  trip, with no BEGIN and no ROLLBACK (under READ COMMITTED every statement
  reads its own snapshot anyway). The first write or locking read begins a
  real transaction.
- New rows (bookings, reminders) and events are staged, and ``commit()``
  writes them all in ONE statement. A unit of work that did nothing else
  (creating a booking) runs that statement on its own, in autocommit, where it
  is its own transaction: one round trip in all.
- Pooled connections are checked for life locally (asyncpg noticed the socket
  close) instead of with SQLAlchemy's pre-ping, which costs three round trips
  (BEGIN, an empty query, ROLLBACK) per checkout.

Event ids are the ``events.id`` identity, which PostgreSQL hands out at insert
time, not at commit time. So that ids become visible in increasing order (a
client that has seen id N can replay everything below N), the statement that
inserts events takes one transaction-scoped advisory lock first, after the
statement's own bookings and reminders are written; the lock is released only
after the commit is visible. The serialized section is the event insert and
the COMMIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self
from uuid import UUID

import asyncpg.exceptions
import sqlalchemy as sa
from bookings_common import tracing
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from booking_core.domain.commands import BookingFilters
from booking_core.domain.errors import BookingOverlap, GuestAlreadyBooked, NotFound, Unavailable
from booking_core.domain.model import (
    ActorKind,
    Booking,
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

from .bookings_read import BOOKING_WITH_GUEST, booking_from_row
from .event_types import (
    SqlEventTypeRepository,
    SqlGuestBookings,
    SqlProviderCalendar,
    SqlSlotOccupancy,
)
from .identity import (
    SqlAuditLog,
    SqlLoginThrottle,
    SqlOrganisations,
    SqlRefreshTokens,
    SqlTeams,
    SqlUsers,
)
from .locks import (
    EVENT_SEQUENCER_LOCK,
    IDEMPOTENCY_LOCK_CLASS,
    PROVIDER_LOCK_CLASS,
    TEAM_LOCK_CLASS,
)
from .prepared import Prepared
from .session import Session, sqlstate_of
from .tables import (
    booking_guests,
    bookings,
    customers,
    events,
    providers,
    reminders,
    team_members,
)
from .ticketing import SqlTicketing

# SQLSTATE classes meaning "the database is not reachable or going away":
# 08 connection exception, 57P operator intervention (shutdown, cannot connect
# now), 53 insufficient resources (too many connections).
_UNAVAILABLE_SQLSTATE_PREFIXES: Final = ("08", "57P", "53")


def create_engine(
    url: str,
    *,
    pool_size: int = 20,
    connect_timeout: float = 5.0,
    server_settings: dict[str, str] | None = None,
) -> AsyncEngine:
    """An asyncpg engine with ``pool_size`` connections that survives a PostgreSQL
    restart (bounded waits).

    ``connect_timeout`` (seconds) bounds connecting and waiting for a pooled
    connection, so an unreachable database fails fast with ``Unavailable``.
    A pooled connection whose socket asyncpg saw close (the server restarted
    or dropped it) is replaced at checkout, without a round trip; one that
    breaks in use fails that call with ``Unavailable`` and invalidates the pool.
    ``server_settings`` are session settings for every connection.
    """
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        # No overflow: a connection opened for a burst and closed after it costs
        # far more (TCP, authentication, statement preparation) than a short wait.
        max_overflow=0,
        pool_timeout=connect_timeout,
        connect_args={
            "timeout": connect_timeout,
            "command_timeout": 30,
            "server_settings": {"application_name": "booking-core", **(server_settings or {})},
        },
    )
    sa.event.listen(engine.sync_engine, "checkout", _replace_closed_connection)
    return engine


def _replace_closed_connection(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pool ``checkout`` hook: a connection asyncpg knows is closed makes the pool
    connect afresh (SQLAlchemy's documented "pessimistic" disconnect handling)."""
    if dbapi_connection.driver_connection.is_closed():
        raise sa.exc.DisconnectionError("the connection was closed by the server")


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` (SQLAlchemy's, or asyncpg's from a ``Prepared`` statement)
    means the database cannot be reached (retrying later may work)."""
    if isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError, sa.exc.TimeoutError)):
        return True
    # A closed connection, or one a server shutting down left mid-operation.
    if isinstance(exc, (asyncpg.exceptions.InterfaceError, asyncpg.exceptions.InternalClientError)):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = getattr(exc, "sqlstate", None)
        return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated or isinstance(
            exc, (sa.exc.InterfaceError, sa.exc.OperationalError)
        ):
            return True
        # asyncpg's "another operation is in progress": a connection the server is
        # closing under it (a fast shutdown) is left mid-operation.
        if isinstance(getattr(exc, "orig", None), asyncpg.exceptions.InternalClientError) or (
            "another operation" in str(getattr(exc, "orig", ""))
        ):
            return True
        sqlstate, _ = sqlstate_of(exc)
        return sqlstate is not None and sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)
    return False


def _owner_column(owner: Owner) -> str:
    """``customer_id`` or ``provider_id``: the column naming ``owner``'s rows."""
    return "customer_id" if owner.kind is ActorKind.CUSTOMER else "provider_id"


def _owned_by(table: sa.Table, owner: Owner) -> sa.ColumnElement[bool]:
    """``customer_id = :id`` or ``provider_id = :id`` on a table that has both."""
    return table.c[_owner_column(owner)] == owner.id


def logged_event(row: Mapping[Any, Any]) -> LoggedEvent:
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
        channel=row["channel"],
        trace_context=row["trace_context"],
    )


def _translate_integrity_error(exc: Exception) -> Exception:
    """The domain error for a constraint a new booking broke (``exc`` SQLAlchemy's or
    asyncpg's), else ``exc`` itself."""
    _, constraint = sqlstate_of(exc)
    if constraint == "bookings_no_overlap":
        return BookingOverlap("the slot overlaps another booking of this provider")
    if constraint in ("bookings_provider_idempotency_key", "bookings_event_type_idempotency_key"):
        return DuplicateIdempotencyKey()
    if constraint == "bookings_provider_id_fkey":
        return NotFound("provider not found")
    if constraint == "bookings_customer_id_fkey":
        return NotFound("customer not found")
    if constraint == "bookings_one_place_per_guest":
        return GuestAlreadyBooked("this guest already holds a place in that slot")
    return exc


# The statements every request runs, compiled once (see ``prepared``).
_BOOKING_BY_ID: Final = Prepared(
    BOOKING_WITH_GUEST.where(bookings.c.id == sa.bindparam("booking_id"))
)


@functools.cache
def _page_statement(owner_column: str, list_type: ListType, after: bool) -> Prepared:
    """A keyset page of an owner's bookings (``owner_column``: ``_owner_column``):
    upcoming ascending, past descending, by ``(start_time, id)``, after the cursor's
    key when ``after``. Parameters ``owner_id``, ``now``, ``page_limit``,
    ``after_start``, ``after_id``."""
    owner = bookings.c[owner_column]
    key = sa.tuple_(bookings.c.start_time, bookings.c.id)
    cursor = sa.tuple_(
        sa.bindparam("after_start", type_=bookings.c.start_time.type),
        sa.bindparam("after_id", type_=bookings.c.id.type),
    )
    query = BOOKING_WITH_GUEST.where(owner == sa.bindparam("owner_id")).limit(
        sa.bindparam("page_limit", type_=sa.Integer)
    )
    if list_type is ListType.UPCOMING:
        query = query.where(bookings.c.start_time >= sa.bindparam("now")).order_by(
            bookings.c.start_time, bookings.c.id
        )
        if after:
            query = query.where(key > cursor)
    else:
        query = query.where(bookings.c.start_time < sa.bindparam("now")).order_by(
            bookings.c.start_time.desc(), bookings.c.id.desc()
        )
        if after:
            query = query.where(key < cursor)
    return Prepared(query)


class SqlBookingRepository:
    def __init__(self, session: Session, staged: list[Booking]) -> None:
        self._session = session
        self._staged = staged

    async def add(self, booking: Booking) -> None:
        """Stage the booking; ``SqlUnitOfWork.commit`` inserts it (and raises its errors)."""
        self._staged.append(booking)

    async def get(self, booking_id: UUID, *, for_update: bool = False) -> Booking | None:
        if for_update:
            query = BOOKING_WITH_GUEST.where(bookings.c.id == booking_id)
            # Locking the booking's row only (FOR UPDATE OF bookings), not the joined ones.
            row = await self._session.first(query, for_update=True, of=bookings)
            return booking_from_row(row) if row is not None else None
        rows = await self._session.fetch(_BOOKING_BY_ID, {"booking_id": booking_id})
        return booking_from_row(rows[0]) if rows else None

    async def get_many(self, booking_ids: Sequence[UUID]) -> dict[UUID, Booking]:
        rows = await self._session.read(BOOKING_WITH_GUEST.where(bookings.c.id.in_(booking_ids)))
        return {booking.id: booking for booking in map(booking_from_row, rows.mappings())}

    async def get_by_idempotency_key(self, provider_id: UUID, key: str) -> Booking | None:
        query = BOOKING_WITH_GUEST.where(
            bookings.c.provider_id == provider_id, bookings.c.idempotency_key == key
        )
        row = (await self._session.read(query)).mappings().first()
        return booking_from_row(row) if row is not None else None

    async def save(self, booking: Booking) -> None:
        await self._session.write(
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
        page = _page_statement(_owner_column(owner), list_type, after is not None)
        parameters: dict[str, Any] = {"owner_id": owner.id, "now": now, "page_limit": limit}
        if after is not None:
            parameters["after_start"], parameters["after_id"] = after
        rows = await self._session.fetch(page, parameters)
        return [booking_from_row(row) for row in rows]

    async def search(
        self,
        organisation_id: UUID,
        filters: BookingFilters,
        *,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[Booking]:
        query = (
            BOOKING_WITH_GUEST.where(providers.c.organisation_id == organisation_id)
            .order_by(bookings.c.start_time, bookings.c.id)
            .limit(limit)
        )
        f = filters
        if f.provider_id is not None:
            query = query.where(bookings.c.provider_id == f.provider_id)
        if f.team_id is not None:
            members = sa.select(team_members.c.provider_id).where(
                team_members.c.team_id == f.team_id
            )
            query = query.where(bookings.c.provider_id.in_(members))
        if f.event_type_id is not None:
            query = query.where(bookings.c.event_type_id == f.event_type_id)
        if f.status is not None:
            query = query.where(bookings.c.status == f.status.value)
        if f.start_from is not None:
            query = query.where(bookings.c.start_time >= f.start_from)
        if f.start_to is not None:
            query = query.where(bookings.c.start_time < f.start_to)
        if f.guest_email:
            email = f.guest_email.strip().lower()
            by_customer = sa.select(customers.c.id).where(sa.func.lower(customers.c.email) == email)
            query = query.where(
                sa.or_(
                    sa.func.lower(booking_guests.c.email) == email,
                    bookings.c.customer_id.in_(by_customer),
                )
            )
        if after is not None:
            query = query.where(sa.tuple_(bookings.c.start_time, bookings.c.id) > sa.tuple_(*after))
        rows = (await self._session.read(query)).mappings().all()
        return [booking_from_row(row) for row in rows]


class SqlReminderRepository:
    def __init__(self, session: Session, staged: list[Reminder]) -> None:
        self._session = session
        self._staged = staged

    async def add(self, reminder: Reminder) -> None:
        """Stage the reminder; ``SqlUnitOfWork.commit`` inserts it."""
        self._staged.append(reminder)

    async def get(self, booking_id: UUID, *, for_update: bool = False) -> Reminder | None:
        query = sa.select(reminders).where(reminders.c.booking_id == booking_id)
        row = await self._session.first(query, for_update=for_update)
        if row is None:
            return None
        return Reminder(row["booking_id"], row["due_at"], ReminderState(row["state"]))

    async def mark_sent(self, booking_id: UUID, *, now: datetime) -> None:
        await self._session.write(
            reminders.update()
            .where(reminders.c.booking_id == booking_id)
            .values(state="sent", sent_at=now)
        )

    async def lock_many(self, booking_ids: Sequence[UUID]) -> dict[UUID, Reminder]:
        query = (
            sa.select(reminders)
            .where(reminders.c.booking_id.in_(booking_ids))
            .order_by(reminders.c.booking_id)
            .with_for_update()
        )
        rows = (await self._session.write(query)).mappings()
        return {
            row["booking_id"]: Reminder(
                row["booking_id"], row["due_at"], ReminderState(row["state"])
            )
            for row in rows
        }

    async def mark_sent_many(self, booking_ids: Sequence[UUID], *, now: datetime) -> None:
        await self._session.write(
            reminders.update()
            .where(reminders.c.booking_id.in_(booking_ids))
            .values(state="sent", sent_at=now)
        )

    async def cancel(self, booking_id: UUID) -> None:
        await self._session.write(
            reminders.update()
            .where(
                reminders.c.booking_id == booking_id,
                reminders.c.state.in_(["scheduled", "enqueued"]),
            )
            .values(state="cancelled")
        )


class SqlDirectory:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add_provider(self, provider: Provider) -> None:
        """Insert; raises ``NotFound`` for an unknown organisation."""
        try:
            await self._session.write(
                providers.insert().values(
                    id=provider.id,
                    name=provider.name,
                    time_zone=provider.time_zone,
                    created_at=provider.created_at,
                    organisation_id=provider.organisation_id,
                )
            )
        except sa.exc.IntegrityError as exc:
            if sqlstate_of(exc)[1] == "providers_organisation_id_fkey":
                raise NotFound("organisation not found") from None
            raise

    async def provider(self, provider_id: UUID) -> Provider | None:
        row = await self._session.first(
            sa.select(providers).where(providers.c.id == provider_id), for_update=False
        )
        if row is None:
            return None
        return Provider(
            row["id"], row["name"], row["time_zone"], row["created_at"], row["organisation_id"]
        )

    async def add_customer_or_get(self, customer: Customer) -> tuple[Customer, bool]:
        inserted = await self._session.write(
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
                await self._session.read(
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
    def __init__(self, session: Session) -> None:
        self._session = session

    async def list_after(
        self, owner: Owner | None, after_id: int, limit: int, *, channel: str | None = None
    ) -> list[LoggedEvent]:
        query = sa.select(events).where(events.c.id > after_id).order_by(events.c.id).limit(limit)
        if owner is not None:
            query = query.where(_owned_by(events, owner))
        elif channel is not None:
            query = query.where(events.c.channel == channel)
        return [logged_event(row) for row in (await self._session.read(query)).mappings()]

    async def head_id(self) -> int:
        head = (await self._session.read(sa.select(sa.func.max(events.c.id)))).scalar()
        return int(head or 0)

    async def find(self, booking_id: UUID, event_type: str) -> tuple[LoggedEvent, bool] | None:
        query = (
            sa.select(events)
            .where(events.c.booking_id == booking_id, events.c.type == event_type)
            .order_by(events.c.id)
            .limit(1)
        )
        row = (await self._session.read(query)).mappings().first()
        return None if row is None else (logged_event(row), row["published_at"] is not None)

    async def mark_published_many(self, event_ids: Sequence[int]) -> None:
        await self._session.write(
            events.update()
            .where(events.c.id.in_(event_ids), events.c.published_at.is_(None))
            .values(published_at=sa.func.now())
        )


_BOOKING_COLUMNS: Final = (
    "id",
    "provider_id",
    "customer_id",
    "start_time",
    "end_time",
    "status",
    "idempotency_key",
    "request_fingerprint",
    "version",
    "created_at",
    "updated_at",
    "event_type_id",
    "slot_id",
    "busy_start",
    "busy_end",
    "single_place_per_guest",
)
_REMINDER_COLUMNS: Final = ("booking_id", "due_at", "state")
_EVENT_COLUMNS: Final = (
    "type",
    "booking_id",
    "provider_id",
    "customer_id",
    "payload",
    "request_id",
    "channel",
    "trace_context",
)


def _binds(table: sa.Table, prefix: str, columns: Sequence[str]) -> dict[str, Any]:
    return {c: sa.bindparam(f"{prefix}{c}", type_=table.c[c].type) for c in columns}


def _inserted_rows(table: sa.Table, prefix: str, columns: Sequence[str], name: str) -> sa.Subquery:
    """``(SELECT count(*) AS n FROM name)`` over a CTE that inserts one row of ``table``.

    A booking is inserted only once its provider's lock is held (see
    ``write_statement``).
    """
    binds = _binds(table, prefix, columns)
    row = sa.select(*(bind.label(column) for column, bind in binds.items()))
    if table is bookings:
        provider_lock = sa.select(
            sa.func.pg_advisory_xact_lock(
                sa.literal(PROVIDER_LOCK_CLASS, sa.Integer),
                sa.func.hashtext(sa.cast(binds["provider_id"], sa.Text)),
            ).label("locked")
        ).subquery(f"{name}_provider_lock")
        row = row.select_from(provider_lock)
    cte = (
        table.insert()
        .from_select(list(columns), row)
        .returning(*table.primary_key.columns)
        .cte(name)
    )
    return sa.select(sa.func.count().label("n")).select_from(cte).subquery()


@functools.cache
def write_statement(n_bookings: int, n_reminders: int, n_events: int) -> sa.Executable:
    """The one statement ``commit()`` writes staged rows with (built once per shape).

    Bookings and reminders are inserted in data-modifying CTEs. A booking is
    inserted under its provider's advisory lock: concurrent creates for one
    provider queue there, and each finds the bookings committed before it,
    rather than two inserts of overlapping slots waiting on each other inside
    the exclusion constraint's check, which PostgreSQL breaks as a deadlock
    (one of them fails) after ``deadlock_timeout``. The event sequencer lock
    is taken in a subquery that first counts the inserts' RETURNING rows, so
    it is taken after they are written (a booking that overlaps fails before
    it); then the events are inserted in staged order, so their ids, handed
    out after the lock, follow it. Locks are always taken in that order.
    Parameters are named ``b{i}_``, ``r{i}_`` and ``e{i}_`` plus the column
    name. Returns the events' rows.
    """
    inserted = [
        _inserted_rows(bookings, f"b{i}_", _BOOKING_COLUMNS, f"new_booking_{i}")
        for i in range(n_bookings)
    ] + [
        _inserted_rows(reminders, f"r{i}_", _REMINDER_COLUMNS, f"new_reminder_{i}")
        for i in range(n_reminders)
    ]
    if n_events < 1:
        raise ValueError("new rows are written with at least one event")
    lock = sa.select(
        sa.func.pg_advisory_xact_lock(sa.literal(EVENT_SEQUENCER_LOCK, sa.BigInteger)).label(
            "locked"
        )
    )
    if inserted:
        written: sa.FromClause = inserted[0]
        for each in inserted[1:]:
            written = written.join(each, sa.true())
        lock = lock.select_from(written)
    sequencer = lock.subquery("sequencer")
    rows = [
        sa.select(
            sa.literal(i, sa.Integer).label("ord"),
            *(bind.label(c) for c, bind in _binds(events, f"e{i}_", _EVENT_COLUMNS).items()),
        )
        for i in range(n_events)
    ]
    staged = (sa.union_all(*rows) if n_events > 1 else rows[0]).subquery("staged")
    source = (
        sa.select(*(staged.c[c] for c in _EVENT_COLUMNS))
        .select_from(staged.join(sequencer, sa.true()))
        .order_by(staged.c.ord)
    )
    return events.insert().from_select(list(_EVENT_COLUMNS), source).returning(events)


@functools.cache
def prepared_write_statement(n_bookings: int, n_reminders: int, n_events: int) -> Prepared:
    """``write_statement`` compiled once (see ``prepared``)."""
    return Prepared(write_statement(n_bookings, n_reminders, n_events))


@functools.cache
def prepared_events_statement() -> Prepared:
    """``events_statement`` compiled once (see ``prepared``)."""
    return Prepared(events_statement())


# Array types of the events' columns, for ``events_statement``'s unnest.
# (The payload travels as JSON text, cast to jsonb in the statement.)
_EVENT_ARRAYS: Final = {
    c: sa.ARRAY(sa.Text() if c == "payload" else events.c[c].type) for c in _EVENT_COLUMNS
}


@functools.cache
def events_statement() -> sa.Executable:
    """Events alone, any number of them, in one statement of one shape: the columns
    bound as arrays and read back with ``unnest(...) WITH ORDINALITY``, inserted in
    that order after the event sequencer's lock (as ``write_statement``), so a batch
    of 500 events is one prepared statement rather than a new 500-branch UNION.
    Parameters are named ``a_`` plus the column name. Returns the events' rows."""
    arrays = sa.func.unnest(
        *(sa.bindparam(f"a_{c}", type_=t) for c, t in _EVENT_ARRAYS.items())
    ).table_valued(*(sa.column(c) for c in _EVENT_ARRAYS), with_ordinality="ord")
    staged = arrays.render_derived(name="staged")
    lock = sa.select(
        sa.func.pg_advisory_xact_lock(sa.literal(EVENT_SEQUENCER_LOCK, sa.BigInteger)).label(
            "locked"
        )
    ).subquery("sequencer")
    columns = [
        sa.cast(staged.c[c], events.c[c].type) if c == "payload" else staged.c[c]
        for c in _EVENT_COLUMNS
    ]
    source = sa.select(*columns).select_from(staged.join(lock, sa.true())).order_by(staged.c.ord)
    return events.insert().from_select(list(_EVENT_COLUMNS), source).returning(events)


def _events_parameters(staged: Sequence[NewEvent]) -> dict[str, Any]:
    trace_context = tracing.current_traceparent()
    return {
        "a_type": [e.type for e in staged],
        "a_booking_id": [e.booking_id for e in staged],
        "a_provider_id": [e.provider_id for e in staged],
        "a_customer_id": [e.customer_id for e in staged],
        "a_payload": [json.dumps(e.data) for e in staged],
        "a_request_id": [e.request_id for e in staged],
        "a_channel": [e.channel for e in staged],
        "a_trace_context": [trace_context] * len(staged),
    }


def _write_parameters(
    new_bookings: Sequence[Booking], new_reminders: Sequence[Reminder], staged: Sequence[NewEvent]
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, b in enumerate(new_bookings):
        values = {
            "id": b.id,
            "provider_id": b.provider_id,
            "customer_id": b.customer_id,
            "start_time": b.start_time,
            "end_time": b.end_time,
            "status": b.status.value,
            "idempotency_key": b.idempotency_key,
            "request_fingerprint": b.request_fingerprint,
            "version": b.version,
            "created_at": b.created_at,
            "updated_at": b.updated_at,
            "event_type_id": b.event_type_id,
            "slot_id": b.slot_id,
            "busy_start": b.busy_start,
            "busy_end": b.busy_end,
            "single_place_per_guest": b.single_place_per_guest,
        }
        params.update({f"b{i}_{k}": v for k, v in values.items()})
    for i, r in enumerate(new_reminders):
        values = {"booking_id": r.booking_id, "due_at": r.due_at, "state": "scheduled"}
        params.update({f"r{i}_{k}": v for k, v in values.items()})
    trace_context = tracing.current_traceparent()
    for i, e in enumerate(staged):
        values = {
            "type": e.type,
            "booking_id": e.booking_id,
            "provider_id": e.provider_id,
            "customer_id": e.customer_id,
            "payload": e.data,
            "request_id": e.request_id,
            "channel": e.channel,
            "trace_context": trace_context,
        }
        params.update({f"e{i}_{k}": v for k, v in values.items()})
    return params


class SqlUnitOfWork:
    """One pooled connection; see the module docstring for round trips and event ids.

    Database unreachability inside the block surfaces as ``Unavailable``.
    """

    bookings: SqlBookingRepository
    reminders: SqlReminderRepository
    directory: SqlDirectory
    events: SqlEventLog
    event_types: SqlEventTypeRepository
    slots: SqlSlotOccupancy
    calendar: SqlProviderCalendar
    guests: SqlGuestBookings
    organisations: SqlOrganisations
    users: SqlUsers
    refresh_tokens: SqlRefreshTokens
    throttle: SqlLoginThrottle
    teams: SqlTeams
    audit: SqlAuditLog
    tickets: SqlTicketing

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._session: Session | None = None
        self._new_bookings: list[Booking] = []
        self._new_reminders: list[Reminder] = []
        self._staged: list[NewEvent] = []

    async def __aenter__(self) -> Self:
        conn: AsyncConnection | None = None
        try:
            conn = await self._engine.connect()
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        except Exception as exc:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
            if is_unavailable(exc):
                raise Unavailable("the database is unavailable") from exc
            raise
        self._session = session = Session(conn)
        self.bookings = SqlBookingRepository(session, self._new_bookings)
        self.reminders = SqlReminderRepository(session, self._new_reminders)
        self.directory = SqlDirectory(session)
        self.events = SqlEventLog(session)
        self.event_types = SqlEventTypeRepository(session)
        self.slots = SqlSlotOccupancy(session)
        self.calendar = SqlProviderCalendar(session)
        self.guests = SqlGuestBookings(session)
        self.organisations = SqlOrganisations(session)
        self.users = SqlUsers(session)
        self.refresh_tokens = SqlRefreshTokens(session)
        self.throttle = SqlLoginThrottle(session)
        self.teams = SqlTeams(session)
        self.audit = SqlAuditLog(session)
        self.tickets = SqlTicketing(session)
        return self

    async def lock_idempotency_key(self, scope: str, key: str) -> bool:
        """pg_try_advisory_xact_lock(IDEMPOTENCY_LOCK_CLASS, hashtext(scope:key)): a hash
        collision between two keys only makes one of them wait for a retry."""
        assert self._session is not None
        held = await self._session.write(
            sa.select(
                sa.func.pg_try_advisory_xact_lock(
                    sa.literal(IDEMPOTENCY_LOCK_CLASS, sa.Integer),
                    sa.func.hashtext(sa.cast(sa.literal(f"{scope}:{key}"), sa.Text)),
                )
            )
        )
        return bool(held.scalar())

    async def lock_team(self, team_id: UUID) -> None:
        """The team's advisory lock (TEAM_LOCK_CLASS, hashtext(team id)), held until the
        transaction ends; taken before any provider's lock."""
        assert self._session is not None
        await self._session.write(
            sa.select(
                sa.func.pg_advisory_xact_lock(
                    sa.literal(TEAM_LOCK_CLASS, sa.Integer),
                    sa.func.hashtext(sa.cast(sa.literal(str(team_id)), sa.Text)),
                )
            )
        )

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
        session, self._session = self._session, None
        if session is None:
            return
        # Closing rolls back whatever was not committed; a broken connection
        # is discarded by the pool.
        with contextlib.suppress(Exception):
            await session.conn.close()

    def append_event(self, event: NewEvent) -> None:
        self._staged.append(event)

    async def commit(self) -> list[LoggedEvent]:
        """Write the staged rows in one statement, then commit.

        Raises ``BookingOverlap``, ``DuplicateIdempotencyKey`` or ``NotFound``
        (unknown provider or customer) for a staged booking.
        """
        session = self._session
        assert session is not None, "commit() outside the unit of work"
        written: list[LoggedEvent] = []
        if (self._new_bookings or self._new_reminders) and not self._staged:
            raise ValueError("a new booking or reminder is committed with its event")
        if self._staged:
            if len(self._staged) > 1 and not (self._new_bookings or self._new_reminders):
                statement = prepared_events_statement()
                parameters = _events_parameters(self._staged)
            else:
                statement = prepared_write_statement(
                    len(self._new_bookings), len(self._new_reminders), len(self._staged)
                )
                parameters = _write_parameters(
                    self._new_bookings, self._new_reminders, self._staged
                )
            try:
                # Outside a transaction the statement is its own: one round trip.
                rows = await session.fetch(statement, parameters)
            except (sa.exc.IntegrityError, asyncpg.IntegrityConstraintViolationError) as exc:
                raise _translate_integrity_error(exc) from None
            written = [logged_event(row) for row in rows]
            written.sort(key=lambda e: e.id)
        if session.in_transaction:
            await session.conn.commit()
        self._new_bookings.clear()
        self._new_reminders.clear()
        self._staged.clear()
        return written
