"""The port the ticketing use cases depend on (``uow.tickets``), and its records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from booking_core.domain.ticketing import (
    Seat,
    SeatSpec,
    SeatState,
    TicketBooking,
    TicketedEvent,
    Venue,
)


@dataclass(frozen=True, slots=True)
class SeatOffer:
    """A seat on an event's map: its price (``None``: its category is not for sale)."""

    seat: Seat
    price_minor: int | None
    state: SeatState


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """A charge or refund for payment-service; ``id`` is also its message id."""

    id: UUID
    booking_id: UUID
    kind: str  # "charge" | "refund"
    idempotency_key: str
    amount_minor: int
    currency: str
    payment_method: str | None
    charge_id: str | None
    created_at: datetime


class TicketingRepository(Protocol):
    async def add_venue(self, venue: Venue) -> None: ...

    async def get_venue(self, venue_id: UUID) -> Venue | None: ...

    async def save_venue(self, venue: Venue) -> None: ...

    async def list_venues(
        self, organisation_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Venue]: ...

    async def add_seats(
        self, venue_id: UUID, specs: Sequence[SeatSpec], ids: Sequence[UUID]
    ) -> None:
        """Raises ``InvalidArgument`` when a position exists already."""

    async def list_seats(self, venue_id: UUID) -> list[Seat]: ...

    async def add_event(self, event: TicketedEvent) -> None: ...

    async def get_event(
        self, event_id: UUID, *, for_update: bool = False
    ) -> TicketedEvent | None: ...

    async def save_event(self, event: TicketedEvent) -> None: ...

    async def list_events(
        self, organisation_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[TicketedEvent]: ...

    async def seat_map(self, event: TicketedEvent) -> list[SeatOffer]: ...

    async def seats_of(self, venue_id: UUID, seat_ids: Sequence[UUID]) -> list[Seat]: ...

    async def availability(self, event: TicketedEvent) -> tuple[int, int]:
        """``(available, for sale)``."""

    async def insert_hold(self, booking: TicketBooking, manage_hash: bytes | None) -> list[UUID]:
        """Write the hold; return the seats taken already (then do not commit). Raises
        ``DuplicateIdempotencyKey``."""

    async def get_booking(
        self, booking_id: UUID, *, for_update: bool = False
    ) -> tuple[TicketBooking, bytes | None] | None: ...

    async def by_idempotency_key(self, customer_id: UUID, key: str) -> TicketBooking | None: ...

    async def save_booking(self, booking: TicketBooking) -> None:
        """Write the state back; an inactive booking's seats are released."""

    async def any_due(self, now: datetime) -> bool:
        """Whether any pending booking is past its expiry (a read without locks)."""

    async def due_for_expiry(self, now: datetime, limit: int) -> list[TicketBooking]: ...

    async def list_bookings(
        self, event_id: UUID, before: tuple[datetime, UUID] | None, limit: int
    ) -> list[TicketBooking]: ...

    async def add_payment_request(self, request: PaymentRequest) -> bool: ...

    async def resolve_payment_request(self, idempotency_key: str, now: datetime) -> None: ...

    async def mark_processed(self, message_id: UUID, queue: str) -> bool: ...
