"""The ports the service layer depends on; adapters implement them, unit tests fake them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from booking_core.domain.audit import AuditEntry, LoggedAuditEntry
from booking_core.domain.commands import BookingFilters
from booking_core.domain.model import (
    Booking,
    Customer,
    ListType,
    LoggedEvent,
    NewEvent,
    Owner,
    Provider,
    Reminder,
)

from .identity_ports import TeamRepository
from .ticketing_ports import TicketingRepository


class BookingRepository(Protocol):
    async def add(self, booking: Booking) -> None:
        """Insert a booking.

        Raises ``BookingOverlap`` (overlaps an active booking of the provider),
        ``DuplicateIdempotencyKey`` (the provider already has that key) or
        ``NotFound`` (unknown provider or customer).
        """

    async def get(self, booking_id: UUID, *, for_update: bool = False) -> Booking | None: ...

    async def get_many(self, booking_ids: Sequence[UUID]) -> dict[UUID, Booking]:
        """The bookings of ``booking_ids`` that exist (no locks), by id."""

    async def get_by_idempotency_key(self, provider_id: UUID, key: str) -> Booking | None: ...

    async def save(self, booking: Booking) -> None:
        """Write back status, version, cancellation fields and ``updated_at``."""

    async def list_page(
        self,
        owner: Owner,
        list_type: ListType,
        *,
        now: datetime,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[Booking]:
        """One page ordered by ``(start_time, id)``: ascending and ``>= now`` for
        upcoming, descending and ``< now`` for past, strictly after ``after``."""

    async def search(
        self,
        organisation_id: UUID,
        filters: BookingFilters,
        *,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[Booking]:
        """The organisation's bookings matching ``filters``, ascending by
        ``(start_time, id)``, strictly after ``after``."""


class ReminderRepository(Protocol):
    async def add(self, reminder: Reminder) -> None: ...

    async def get(self, booking_id: UUID, *, for_update: bool = False) -> Reminder | None: ...

    async def lock_many(self, booking_ids: Sequence[UUID]) -> dict[UUID, Reminder]:
        """The reminders of ``booking_ids`` that exist, each row locked ``FOR UPDATE``
        (in booking-id order, so overlapping callers queue instead of deadlocking)."""

    async def mark_sent(self, booking_id: UUID, *, now: datetime) -> None:
        """Set the reminder's state to ``sent`` at ``now``."""

    async def mark_sent_many(self, booking_ids: Sequence[UUID], *, now: datetime) -> None:
        """``mark_sent`` for each, in one statement."""

    async def cancel(self, booking_id: UUID) -> None:
        """Mark the booking's reminder cancelled unless it was already sent."""


class Directory(Protocol):
    """Providers and customers."""

    async def add_provider(self, provider: Provider) -> None: ...

    async def provider(self, provider_id: UUID) -> Provider | None: ...

    async def add_customer_or_get(self, customer: Customer) -> tuple[Customer, bool]:
        """Insert, or return the customer already registered with that email
        (case-insensitive) and ``False``."""


class EventLog(Protocol):
    async def list_after(
        self, owner: Owner | None, after_id: int, limit: int, *, channel: str | None = None
    ) -> list[LoggedEvent]:
        """Committed events of ``owner`` (``None``: of everyone, or of ``channel`` only
        when one is given) with ``id > after_id``, ascending, at most ``limit``."""

    async def head_id(self) -> int:
        """The highest committed event id, 0 when the log is empty."""

    async def find(self, booking_id: UUID, event_type: str) -> tuple[LoggedEvent, bool] | None:
        """The booking's first event of ``event_type`` and whether it is published."""

    async def mark_published_many(self, event_ids: Sequence[int]) -> None:
        """Record that the events reached Redis (no-op for any that already had)."""


class SlotOccupancy(Protocol):
    """Places taken per event type slot and hosting provider (see the event-types context)."""

    async def take(self, event_type_id: UUID, provider_id: UUID, start: datetime) -> bool:
        """Take one of the provider's places in the slot if one is left (False when they
        are all taken), in the transaction, serialized with every other write to the
        provider's calendar."""

    async def release(self, event_type_id: UUID, provider_id: UUID, start: datetime) -> None:
        """Give one of the provider's places in the slot back, in the transaction."""

    async def booked_between(
        self, event_type_id: UUID, start: datetime, end: datetime
    ) -> dict[tuple[datetime, UUID], int]:
        """Places taken per (slot start, provider) for slots starting in ``[start, end)``."""


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> None:
        """Append ``entry`` in the current transaction."""

    async def list_page(
        self, organisation_id: UUID, *, before_id: int | None, limit: int
    ) -> list[LoggedAuditEntry]:
        """The organisation's entries, newest first, with ``id < before_id``."""


class UnitOfWork(Protocol):
    """One database transaction. Leaving the block without ``commit()`` rolls back."""

    @property
    def bookings(self) -> BookingRepository: ...

    @property
    def reminders(self) -> ReminderRepository: ...

    @property
    def directory(self) -> Directory: ...

    @property
    def events(self) -> EventLog: ...

    @property
    def slots(self) -> SlotOccupancy: ...

    @property
    def teams(self) -> TeamRepository: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def tickets(self) -> TicketingRepository: ...

    async def lock_idempotency_key(self, scope: str, key: str) -> bool:
        """Hold ``key`` (within ``scope``) for the rest of this transaction: False,
        without waiting, when a concurrent transaction holds it (a duplicate request
        in flight)."""

    def append_event(self, event: NewEvent) -> None:
        """Stage an event; it is written, and gets its id, at ``commit()``."""

    async def commit(self) -> list[LoggedEvent]:
        """Commit, returning the staged events as written (ids in commit order)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class EventPublisher(Protocol):
    def publish_committed(self, events: Sequence[LoggedEvent]) -> None:
        """Hand committed events over for publication without waiting for it.

        Delivery is at least once: what is not published now is published by
        the outbox relay later.
        """


class Clock(Protocol):
    def __call__(self) -> datetime:
        """The current time, aware UTC."""


class DuplicateIdempotencyKey(Exception):
    """Raised by ``BookingRepository.add`` when the provider already has the key."""
