"""The port the mail use cases depend on, beside the shared ones in ``ports.py``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from booking_core.domain.mail import BookingDetails, MailKind
from booking_core.domain.model import Booking


class ClaimResult(StrEnum):
    CLAIMED = "claimed"
    DONE = "done"
    BUSY = "busy"


class DeliveryResult(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class DeliveryClaim:
    """A claim's result; ``delivery_id`` and ``message_id`` are set unless ``BUSY``."""

    result: ClaimResult
    delivery_id: UUID | None
    message_id: str


@dataclass(frozen=True, slots=True)
class DeliveryKey:
    """What is delivered at most once in normal operation."""

    event_id: int
    booking_id: UUID
    version: int
    kind: MailKind
    recipient: str


@dataclass(frozen=True, slots=True)
class MailFailure:
    delivery_id: UUID
    booking_id: UUID
    kind: MailKind
    recipient: str
    error: str
    attempts: int
    failed_at: datetime


@dataclass(frozen=True, slots=True)
class MailSource:
    """What one event's mail is made of: the event's type, its booking (as it is now)
    and the booking's details."""

    event_type: str
    booking: Booking
    details: BookingDetails


class MailStore(Protocol):
    async def source(self, event_id: int) -> MailSource | None:
        """The committed event ``event_id`` with its booking and the booking's details;
        ``None`` when there is no such event, it is a public channel's, or its booking
        is not an appointment or event-type place (a ticket booking sends no mail)."""

    async def details(self, booking: Booking) -> BookingDetails:
        """The booking's event type, provider and customer as its mail shows them."""

    async def claim(
        self, key: DeliveryKey, *, message_id: str, now: datetime, lease: timedelta
    ) -> DeliveryClaim:
        """Atomically claim the delivery of ``key``: a new claim (storing ``message_id``)
        or a takeover of a claim older than ``lease`` (keeping its Message-ID) is
        ``CLAIMED``; one sent or failed for good is ``DONE``; a live claim is ``BUSY``."""

    async def finish(
        self, delivery_id: UUID, result: DeliveryResult, error: str, *, now: datetime
    ) -> int | None:
        """Record a claimed delivery's result (``RETRY`` releases the claim); return its
        event's id, or None if no claimed delivery has that id."""

    async def complete_job(self, event_id: int, *, now: datetime) -> None:
        """Mark the event's mail job done (no-op if it is, or is unknown)."""

    async def failures(self, organisation_id: UUID, limit: int) -> list[MailFailure]:
        """Permanent failures of the organisation's bookings, newest first."""
