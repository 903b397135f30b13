"""Commands of the event-type context: what a caller asks, parsed into domain types
(the service layer validates the values)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from .event_types import EventTypeSpec
from .model import Actor


@dataclass(frozen=True, slots=True)
class CreateEventType:
    actor: Actor
    spec: EventTypeSpec
    # A provider actor creates its own (None or itself); an admin or a service names
    # a provider or a team.
    provider_id: UUID | None = None
    team_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class GetEventType:
    actor: Actor
    event_type_id: UUID


@dataclass(frozen=True, slots=True)
class ListEventTypes:
    actor: Actor
    limit: int
    cursor: str | None = None
    provider_id: UUID | None = None
    team_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class UpdateEventType:
    actor: Actor
    event_type_id: UUID
    # Values for the fields named in ``paths`` (EventTypeSpec's proto field names).
    spec: EventTypeSpec
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetEventTypeActive:
    actor: Actor
    event_type_id: UUID
    active: bool


@dataclass(frozen=True, slots=True)
class GetPublicEventType:
    actor: Actor
    slug: str


@dataclass(frozen=True, slots=True)
class ListSlots:
    actor: Actor
    slug: str
    start: datetime
    end: datetime
    # A team's event type that lets guests pick: one member's slots only.
    member_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class GuestDetails:
    """A guest's details as typed (``parse_guest`` validates them)."""

    first_name: str
    last_name: str
    email: str
    phone: str
    address: str | None = None
    special_requests: str | None = None


@dataclass(frozen=True, slots=True)
class BookSlot:
    actor: Actor
    slug: str
    slot_start: datetime
    guest: GuestDetails
    idempotency_key: str | None = None
    member_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class GetGuestBooking:
    actor: Actor
    reference: str
    manage_token: str


@dataclass(frozen=True, slots=True)
class CancelGuestBooking:
    actor: Actor
    reference: str
    manage_token: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class GetManageToken:
    actor: Actor
    booking_id: UUID
