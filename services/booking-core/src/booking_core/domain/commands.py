"""Commands: what a caller asks booking-core to do, already parsed into domain types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from .model import Actor, BookingStatus, ListType, TimeSlot


@dataclass(frozen=True, slots=True)
class CreateBooking:
    actor: Actor
    provider_id: UUID
    customer_id: UUID
    slot: TimeSlot
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class GetBooking:
    actor: Actor
    booking_id: UUID


@dataclass(frozen=True, slots=True)
class ListBookings:
    actor: Actor
    list_type: ListType
    limit: int
    cursor: str | None = None
    customer_id: UUID | None = None
    provider_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class CancelBooking:
    actor: Actor
    booking_id: UUID
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RegisterProvider:
    actor: Actor
    name: str
    time_zone: str
    organisation_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class RegisterCustomer:
    actor: Actor
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class ListEvents:
    actor: Actor
    after_id: int
    limit: int
    customer_id: UUID | None = None
    provider_id: UUID | None = None
    # Every owner's events instead of one owner's (services only).
    all_owners: bool = False
    # One public channel's events instead of an owner's (any actor).
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimReminder:
    actor: Actor
    booking_id: UUID


@dataclass(frozen=True, slots=True)
class MarkEventPublished:
    """``event_id`` (0 for none) and ``more_event_ids``, marked in one statement."""

    actor: Actor
    event_id: int
    more_event_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ClaimReminders:
    actor: Actor
    booking_ids: tuple[UUID, ...]


@dataclass(frozen=True, slots=True)
class BookingFilters:
    """What an organisation's booking search may narrow by (each optional)."""

    provider_id: UUID | None = None
    team_id: UUID | None = None
    event_type_id: UUID | None = None
    status: BookingStatus | None = None
    start_from: datetime | None = None
    start_to: datetime | None = None
    guest_email: str | None = None


@dataclass(frozen=True, slots=True)
class SearchBookings:
    actor: Actor
    filters: BookingFilters
    limit: int
    cursor: str | None = None
