"""The ports the event-type use cases depend on, beside the shared ones in ``ports.py``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from booking_core.domain.event_types import EventType
from booking_core.domain.guests import Guest
from booking_core.domain.slots import BusyInterval

from .ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class PublicListing:
    """An event type found by slug, with its provider's display name."""

    event_type: EventType
    provider_name: str


class EventTypeRepository(Protocol):
    async def add(self, event_type: EventType) -> None:
        """Insert the event type (not its slugs). Raises ``NotFound`` (unknown provider)."""

    async def claim_slug(self, event_type_id: UUID, slug: str, *, custom: bool) -> bool:
        """Give the event type ``slug`` (lowercase); False when another type has it."""

    async def release_custom_slug(self, event_type_id: UUID) -> None:
        """Drop the event type's custom slug, if it has one."""

    async def get(self, event_type_id: UUID, *, for_update: bool = False) -> EventType | None: ...

    async def save(self, event_type: EventType) -> None:
        """Write back spec, active, version and ``updated_at`` (not the slugs)."""

    async def find_by_slug(self, slug: str) -> PublicListing | None:
        """The event type whose random or custom slug is ``slug`` (lowercase)."""

    async def list_page(
        self, provider_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[EventType]:
        """The provider's event types by ``(created_at, id)``, strictly after ``after``."""


class ProviderCalendar(Protocol):
    async def busy_between(
        self, provider_id: UUID, start: datetime, end: datetime
    ) -> list[BusyInterval]:
        """The busy ranges of the provider's active bookings that overlap ``[start, end)``."""


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


class EventTypesUnitOfWorkFactory(Protocol):
    def __call__(self) -> EventTypesUnitOfWork: ...
