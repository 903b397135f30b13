"""In-memory fakes of booking-core's ports (``service_layer/ports.py``) for unit tests.

The fakes stand in for PostgreSQL only at our own port boundaries and keep the
invariants the database enforces:

- ``bookings_no_overlap``: an active booking of a provider may not overlap another
  one on the half-open range ``[start_time, end_time)`` (raises ``BookingOverlap``);
- ``bookings_provider_idempotency_key``: ``(provider_id, idempotency_key)`` is unique
  (raises ``DuplicateIdempotencyKey``);
- the foreign keys to providers and customers (raises ``NotFound``);
- ``customers_email_lower_key``: emails are unique case-insensitively.

A ``FakeUnitOfWork`` behaves like a READ COMMITTED transaction: it sees what is
committed plus its own pending writes, applies its writes to the ``FakeDatabase``
only on ``commit()`` and discards them when the block is left without one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self
from uuid import UUID, uuid4

from booking_core.domain.audit import AuditEntry, LoggedAuditEntry
from booking_core.domain.errors import BookingOverlap, NotFound
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
from booking_core.service_layer.cursors import CursorCodec
from booking_core.service_layer.handlers import BookingRules, BookingService
from booking_core.service_layer.ports import DuplicateIdempotencyKey

DEFAULT_NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
CURSOR_SECRET = b"unit-test-cursor-secret-0123456789"


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime = DEFAULT_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class ReminderRecord:
    """A ``reminders`` row: the reminder and its state (scheduled, enqueued, sent, cancelled)."""

    reminder: Reminder
    state: str = "scheduled"


BeforeAdd = Callable[[], Awaitable[None]]


@dataclass
class FakeDatabase:
    """Committed state shared by every unit of work of one test."""

    clock: FakeClock
    providers: dict[UUID, Provider] = field(default_factory=dict)
    customers: dict[UUID, Customer] = field(default_factory=dict)
    bookings: dict[UUID, Booking] = field(default_factory=dict)
    reminders: dict[UUID, ReminderRecord] = field(default_factory=dict)
    events: list[LoggedEvent] = field(default_factory=list)
    published_event_ids: set[int] = field(default_factory=set)
    audit: list[AuditEntry] = field(default_factory=list)
    # Idempotency keys held by open units of work (lock_idempotency_key).
    keys_in_flight: set[tuple[str, str]] = field(default_factory=set)
    commits: int = 0
    # An insert that violates both the key and the overlap constraint reports
    # one of them; PostgreSQL does not promise which.
    key_checked_before_overlap: bool = True
    # One-shot hook run when a unit of work first writes (it holds its idempotency
    # key, or adds a booking), e.g. to let a concurrent request commit just before:
    # the last moment a real one could. It is cleared before it runs.
    before_add: BeforeAdd | None = None
    # Observations for assertions.
    key_lookups: list[tuple[UUID, str, Booking | None]] = field(default_factory=list)
    add_errors: list[type[Exception]] = field(default_factory=list)

    def seed_provider(self, name: str = "Dr. Who", time_zone: str = "UTC") -> UUID:
        provider = Provider(uuid4(), name, time_zone, self.clock())
        self.providers[provider.id] = provider
        return provider.id

    def seed_customer(self, name: str = "Ada", email: str | None = None) -> UUID:
        customer_id = uuid4()
        email = email or f"{customer_id.hex[:12]}@example.com"
        self.customers[customer_id] = Customer(customer_id, name, email, self.clock())
        return customer_id

    def snapshot(self) -> tuple[object, ...]:
        """Everything a use case may write, copied, for "nothing changed" assertions."""
        return (
            dict(self.providers),
            dict(self.customers),
            {k: v.copy() for k, v in self.bookings.items()},
            {k: replace(v) for k, v in self.reminders.items()},
            list(self.events),
            self.commits,
        )


class FakeBookingRepository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._db = uow.db

    async def add(self, booking: Booking) -> None:
        await self._uow.run_before_write()
        try:
            self._check_insert(booking)
        except Exception as exc:
            self._db.add_errors.append(type(exc))
            raise
        self._uow.pending_bookings[booking.id] = booking.copy()

    def _check_insert(self, booking: Booking) -> None:
        if booking.end_time <= booking.start_time:
            raise ValueError("violates bookings_time_range_check")
        visible = self._uow.visible_bookings()
        if booking.id in visible:
            raise ValueError("violates bookings_pkey")
        checks = [self._check_key, self._check_overlap]
        if not self._db.key_checked_before_overlap:
            checks.reverse()
        for check in checks:
            check(booking, visible)
        # PostgreSQL checks foreign keys at the end of the statement.
        if booking.provider_id not in self._uow.visible_providers():
            raise NotFound("provider not found")
        if booking.customer_id not in self._uow.visible_customers():
            raise NotFound("customer not found")

    @staticmethod
    def _check_key(booking: Booking, visible: dict[UUID, Booking]) -> None:
        if booking.idempotency_key is None:
            return
        for other in visible.values():
            if (other.provider_id, other.idempotency_key) == (
                booking.provider_id,
                booking.idempotency_key,
            ):
                raise DuplicateIdempotencyKey()

    @staticmethod
    def _check_overlap(booking: Booking, visible: dict[UUID, Booking]) -> None:
        if not booking.is_active:
            return
        for other in visible.values():
            if (
                other.is_active
                and other.provider_id == booking.provider_id
                and other.start_time < booking.end_time
                and booking.start_time < other.end_time
            ):
                raise BookingOverlap("the slot overlaps another booking of this provider")

    async def get(self, booking_id: UUID, *, for_update: bool = False) -> Booking | None:
        if for_update:
            self._uow.locked.append(booking_id)
        booking = self._uow.visible_bookings().get(booking_id)
        return booking.copy() if booking is not None else None

    async def get_many(self, booking_ids: Sequence[UUID]) -> dict[UUID, Booking]:
        visible = self._uow.visible_bookings()
        return {i: visible[i].copy() for i in booking_ids if i in visible}

    async def get_by_idempotency_key(self, provider_id: UUID, key: str) -> Booking | None:
        found = next(
            (
                b
                for b in self._uow.visible_bookings().values()
                if b.provider_id == provider_id and b.idempotency_key == key
            ),
            None,
        )
        self._db.key_lookups.append((provider_id, key, found))
        return found.copy() if found is not None else None

    async def save(self, booking: Booking) -> None:
        stored = self._uow.visible_bookings()[booking.id]
        self._uow.pending_bookings[booking.id] = replace(
            stored,
            status=booking.status,
            version=booking.version,
            cancelled_at=booking.cancelled_at,
            cancel_reason=booking.cancel_reason,
            updated_at=booking.updated_at,
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
        def owned(b: Booking) -> bool:
            owner_id = b.customer_id if owner.kind is ActorKind.CUSTOMER else b.provider_id
            return owner_id == owner.id

        rows = [b for b in self._uow.visible_bookings().values() if owned(b)]
        if list_type is ListType.UPCOMING:
            rows = [b for b in rows if b.start_time >= now]
            if after is not None:
                rows = [b for b in rows if (b.start_time, b.id) > after]
            rows.sort(key=lambda b: (b.start_time, b.id))
        else:
            rows = [b for b in rows if b.start_time < now]
            if after is not None:
                rows = [b for b in rows if (b.start_time, b.id) < after]
            rows.sort(key=lambda b: (b.start_time, b.id), reverse=True)
        return [b.copy() for b in rows[:limit]]


class FakeReminderRepository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def add(self, reminder: Reminder) -> None:
        if reminder.booking_id in self._uow.visible_reminders():
            raise ValueError("violates reminders_pkey")
        self._uow.pending_reminders[reminder.booking_id] = ReminderRecord(reminder)

    async def get(self, booking_id: UUID, *, for_update: bool = False) -> Reminder | None:
        record = self._uow.visible_reminders().get(booking_id)
        if record is None:
            return None
        if for_update:
            self._uow.locked.append(booking_id)
        return replace(record.reminder, state=ReminderState(record.state))

    async def mark_sent(self, booking_id: UUID, *, now: datetime) -> None:
        record = self._uow.visible_reminders()[booking_id]
        self._uow.pending_reminders[booking_id] = replace(record, state="sent")

    async def lock_many(self, booking_ids: Sequence[UUID]) -> dict[UUID, Reminder]:
        found = {}
        for booking_id in sorted(booking_ids):
            reminder = await self.get(booking_id, for_update=True)
            if reminder is not None:
                found[booking_id] = reminder
        return found

    async def mark_sent_many(self, booking_ids: Sequence[UUID], *, now: datetime) -> None:
        for booking_id in booking_ids:
            await self.mark_sent(booking_id, now=now)

    async def cancel(self, booking_id: UUID) -> None:
        record = self._uow.visible_reminders().get(booking_id)
        if record is not None and record.state in {"scheduled", "enqueued"}:
            self._uow.pending_reminders[booking_id] = replace(record, state="cancelled")


class FakeDirectory:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def add_provider(self, provider: Provider) -> None:
        self._uow.pending_providers[provider.id] = provider

    async def add_customer_or_get(self, customer: Customer) -> tuple[Customer, bool]:
        for existing in self._uow.visible_customers().values():
            if existing.email.lower() == customer.email.lower():
                return existing, False
        self._uow.pending_customers[customer.id] = customer
        return customer, True


class FakeEventLog:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    async def list_after(
        self, owner: Owner | None, after_id: int, limit: int, *, channel: str | None = None
    ) -> list[LoggedEvent]:
        def owned(e: LoggedEvent) -> bool:
            if owner is None:
                return channel is None or e.channel == channel
            owner_id = e.customer_id if owner.kind is ActorKind.CUSTOMER else e.provider_id
            return owner_id == owner.id

        rows = sorted((e for e in self._db.events if owned(e) and e.id > after_id), key=_event_id)
        return rows[:limit]

    async def head_id(self) -> int:
        return max((e.id for e in self._db.events), default=0)

    async def find(self, booking_id: UUID, event_type: str) -> tuple[LoggedEvent, bool] | None:
        for event in sorted(self._db.events, key=_event_id):
            if event.booking_id == booking_id and event.type == event_type:
                return event, event.id in self._db.published_event_ids
        return None

    async def mark_published_many(self, event_ids: Sequence[int]) -> None:
        known = {e.id for e in self._db.events}
        self._db.published_event_ids.update(i for i in event_ids if i in known)


def _event_id(event: LoggedEvent) -> int:
    return event.id


class FakeAuditLog:
    """Audit entries staged in the unit of work, kept on its commit."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def record(self, entry: AuditEntry) -> None:
        self._uow.pending_audit.append(entry)

    async def list_page(
        self, organisation_id: UUID, *, before_id: int | None, limit: int
    ) -> list[LoggedAuditEntry]:
        raise NotImplementedError


class FakeUnitOfWork:
    """One fake transaction over a ``FakeDatabase``; writes land only on ``commit()``."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self._held: list[tuple[str, str]] = []
        self.bookings = FakeBookingRepository(self)
        self.reminders = FakeReminderRepository(self)
        self.directory = FakeDirectory(self)
        self.events = FakeEventLog(db)
        self.audit = FakeAuditLog(self)
        self.pending_audit: list[AuditEntry] = []
        self.pending_bookings: dict[UUID, Booking] = {}
        self.pending_reminders: dict[UUID, ReminderRecord] = {}
        self.pending_providers: dict[UUID, Provider] = {}
        self.pending_customers: dict[UUID, Customer] = {}
        self.staged_events: list[NewEvent] = []
        self.locked: list[UUID] = []
        self.committed = False
        self.rolled_back = False
        self._open = False

    async def __aenter__(self) -> Self:
        assert not self._open, "unit of work entered twice"
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        for held in self._held:
            self.db.keys_in_flight.discard(held)
        self._held.clear()
        # Leaving without commit() rolls back whatever was written.
        self.rolled_back = not self.committed
        self._discard()

    async def run_before_write(self) -> None:
        hook, self.db.before_add = self.db.before_add, None
        if hook is not None:
            await hook()

    async def lock_idempotency_key(self, scope: str, key: str) -> bool:
        """Held by a unit of work that is still open (``db.keys_in_flight``)."""
        assert self._open, "lock_idempotency_key() outside the unit of work"
        await self.run_before_write()
        if (scope, key) in self.db.keys_in_flight:
            return False
        self.db.keys_in_flight.add((scope, key))
        self._held.append((scope, key))
        return True

    def append_event(self, event: NewEvent) -> None:
        assert self._open, "append_event() outside the unit of work"
        self.staged_events.append(event)

    async def commit(self) -> list[LoggedEvent]:
        assert self._open, "commit() outside the unit of work"
        db = self.db
        db.providers.update(self.pending_providers)
        db.customers.update(self.pending_customers)
        db.bookings.update(self.pending_bookings)
        db.reminders.update(self.pending_reminders)
        db.audit.extend(self.pending_audit)
        next_id = max((e.id for e in db.events), default=0) + 1
        written = [
            LoggedEvent(
                id=next_id + i,
                type=e.type,
                booking_id=e.booking_id,
                provider_id=e.provider_id,
                customer_id=e.customer_id,
                data=e.data,
                occurred_at=db.clock(),
                request_id=e.request_id,
            )
            for i, e in enumerate(self.staged_events)
        ]
        db.events.extend(written)
        db.commits += 1
        self.committed = True
        self._discard()
        return written

    def _discard(self) -> None:
        self.pending_bookings = {}
        self.pending_reminders = {}
        self.pending_providers = {}
        self.pending_customers = {}
        self.staged_events = []
        self.pending_audit.clear()

    def visible_bookings(self) -> dict[UUID, Booking]:
        return {**self.db.bookings, **self.pending_bookings}

    def visible_reminders(self) -> dict[UUID, ReminderRecord]:
        return {**self.db.reminders, **self.pending_reminders}

    def visible_providers(self) -> dict[UUID, Provider]:
        return {**self.db.providers, **self.pending_providers}

    def visible_customers(self) -> dict[UUID, Customer]:
        return {**self.db.customers, **self.pending_customers}


class FakeUnitOfWorkFactory:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.instances: list[FakeUnitOfWork] = []

    def __call__(self) -> FakeUnitOfWork:
        uow = FakeUnitOfWork(self.db)
        self.instances.append(uow)
        return uow


class FakePublisher:
    """Records every ``publish_committed`` call and whether its events were committed then."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db
        self.published: list[list[LoggedEvent]] = []
        self.committed_when_published: list[bool] = []

    def publish_committed(self, events: Sequence[LoggedEvent]) -> None:
        self.published.append(list(events))
        self.committed_when_published.append(all(e in self._db.events for e in events))

    @property
    def events(self) -> list[LoggedEvent]:
        return [e for batch in self.published for e in batch]


@dataclass
class Harness:
    """A ``BookingService`` wired to the fakes, and the fakes to inspect."""

    db: FakeDatabase
    clock: FakeClock
    uows: FakeUnitOfWorkFactory
    publisher: FakePublisher
    cursors: CursorCodec
    rules: BookingRules
    service: BookingService

    def provider(self) -> UUID:
        return self.db.seed_provider()

    def customer(self, email: str | None = None) -> UUID:
        return self.db.seed_customer(email=email)


def make_harness(
    *,
    now: datetime = DEFAULT_NOW,
    rules: BookingRules | None = None,
    secret: bytes = CURSOR_SECRET,
) -> Harness:
    clock = FakeClock(now)
    db = FakeDatabase(clock)
    uows = FakeUnitOfWorkFactory(db)
    publisher = FakePublisher(db)
    cursors = CursorCodec(secret)
    rules = rules or BookingRules()
    service = BookingService(uows, publisher, clock, cursors, rules)
    return Harness(db, clock, uows, publisher, cursors, rules, service)
