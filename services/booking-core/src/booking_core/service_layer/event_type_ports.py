"""The ports the event-type use cases depend on, beside the shared ones in ``ports.py``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from booking_core.domain.event_types import EventType
from booking_core.domain.guests import Guest
from booking_core.domain.model import Booking
from booking_core.domain.slots import BusyInterval

from .ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class Host:
    """A provider who hosts an event type's places: its owner, or a team member."""

    provider_id: UUID
    name: str


@dataclass(frozen=True, slots=True)
class PublicListing:
    """An event type found by slug, with its owner's display name (the provider's or the
    team's) and its hosts."""

    event_type: EventType
    owner_name: str
    hosts: tuple[Host, ...]


@dataclass(frozen=True, slots=True)
class AssignmentStats:
    """What the round-robin choice of a team member reads, per member."""

    bookings_that_day: int
    last_assigned_at: datetime | None


class EventTypeRepository(Protocol):
    async def add(self, event_type: EventType) -> None:
        """Insert the event type (not its slugs). Raises ``NotFound`` (unknown owner)."""

    async def claim_slug(self, event_type_id: UUID, slug: str, *, custom: bool) -> bool:
        """Give the event type ``slug`` (lowercase); False when another type has it."""

    async def release_custom_slug(self, event_type_id: UUID) -> None:
        """Drop the event type's custom slug, if it has one."""

    async def get(self, event_type_id: UUID, *, for_update: bool = False) -> EventType | None: ...

    async def save(self, event_type: EventType) -> None:
        """Write back spec, active, version and ``updated_at`` (not the slugs or owner)."""

    async def find_by_slug(self, slug: str) -> PublicListing | None:
        """The event type whose random or custom slug is ``slug`` (lowercase)."""

    async def hosts(self, event_type: EventType) -> tuple[Host, ...]:
        """Who hosts its places: its provider, or its team's members (by name)."""

    async def list_page(
        self,
        *,
        provider_id: UUID | None = None,
        team_id: UUID | None = None,
        organisation_id: UUID | None = None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[EventType]:
        """Event types of a provider, a team, or a whole organisation (exactly one), by
        ``(created_at, id)``, strictly after ``after``."""


class ProviderCalendar(Protocol):
    async def busy_between(
        self, provider_ids: Sequence[UUID], start: datetime, end: datetime
    ) -> dict[UUID, list[BusyInterval]]:
        """The busy ranges of each provider's active bookings overlapping ``[start, end)``."""

    async def assignment_stats(
        self,
        event_type_id: UUID,
        provider_ids: Sequence[UUID],
        day_start: datetime,
        day_end: datetime,
    ) -> dict[UUID, AssignmentStats]:
        """Per provider: its active bookings starting in ``[day_start, day_end)`` and when
        it was last assigned a place of this event type."""

    async def by_event_type_key(self, event_type_id: UUID, key: str) -> Booking | None:
        """The place of this event type booked with this idempotency key."""


class GuestBookings(Protocol):
    async def add(self, booking_id: UUID, reference: str, token_hash: bytes, guest: Guest) -> bool:
        """Store a guest booking's details; False when ``reference`` is taken already."""

    async def find(self, reference: str) -> tuple[UUID, bytes] | None:
        """``(booking id, manage token hash)`` of a reference."""


class EventTypesUnitOfWork(UnitOfWork, Protocol):
    """The unit of work with the event-type repositories too."""

    @property
    def event_types(self) -> EventTypeRepository: ...

    @property
    def calendar(self) -> ProviderCalendar: ...

    @property
    def guests(self) -> GuestBookings: ...

    async def lock_team(self, team_id: UUID) -> None:
        """Serialize, until the end of the transaction, with every other booking of the
        team's event types."""


class EventTypesUnitOfWorkFactory(Protocol):
    def __call__(self) -> EventTypesUnitOfWork: ...
