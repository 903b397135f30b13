"""Bookings, their actors and the rules on them.

All datetimes are timezone-aware UTC with microsecond precision (PostgreSQL's
``timestamptz`` resolution). Intervals are half-open, ``[start_time, end_time)``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from bookings_common import limits
from bookings_common.events import format_time
from bookings_common.jobs import reminder_job_id

from .errors import BookingNotCancellable, InvalidArgument, PermissionDenied
from .guests import Guest

MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_CANCEL_REASON_LENGTH = limits.CANCEL_REASON_MAX
MAX_NAME_LENGTH = limits.NAME_MAX


class ActorKind(StrEnum):
    CUSTOMER = "customer"
    PROVIDER = "provider"
    SERVICE = "service"
    # A member of the public without an account: public pages only.
    GUEST = "guest"
    # A signed-in administrator of one organisation: everything in it.
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a call: a customer or provider acting for itself, an organisation's
    admin, a trusted service, or a guest.

    ``id`` is set for customers and providers; ``organisation_id`` for admins;
    ``service`` names a service actor; ``user_id`` is the signed-in staff user
    behind a provider or admin, for the audit log.
    """

    kind: ActorKind
    id: UUID | None = None
    service: str | None = None
    organisation_id: UUID | None = None
    user_id: UUID | None = None

    @classmethod
    def customer(cls, customer_id: UUID) -> Actor:
        return cls(ActorKind.CUSTOMER, id=customer_id)

    @classmethod
    def provider(cls, provider_id: UUID, *, user_id: UUID | None = None) -> Actor:
        return cls(ActorKind.PROVIDER, id=provider_id, user_id=user_id)

    @classmethod
    def admin(cls, organisation_id: UUID, *, user_id: UUID | None = None) -> Actor:
        return cls(ActorKind.ADMIN, organisation_id=organisation_id, user_id=user_id)

    @property
    def is_admin(self) -> bool:
        return self.kind is ActorKind.ADMIN

    def administers(self, organisation_id: UUID | None) -> bool:
        """An admin of ``organisation_id`` (never of records outside any organisation)."""
        return (
            self.kind is ActorKind.ADMIN
            and organisation_id is not None
            and self.organisation_id == organisation_id
        )

    @property
    def label(self) -> str:
        """Who it is, for the audit log: ``admin:<user>``, ``provider:<id>``, ``service:<name>``."""
        if self.kind is ActorKind.SERVICE:
            return f"service:{self.service}"
        if self.user_id is not None:
            return f"{self.kind}:{self.user_id}"
        return f"{self.kind}:{self.id}" if self.id is not None else str(self.kind)

    @classmethod
    def trusted_service(cls, name: str) -> Actor:
        return cls(ActorKind.SERVICE, service=name)

    @classmethod
    def guest(cls) -> Actor:
        return cls(ActorKind.GUEST)

    @property
    def is_service(self) -> bool:
        return self.kind is ActorKind.SERVICE

    def may_act_for(self, *, customer_id: UUID, provider_id: UUID) -> bool:
        """A customer only as itself, a provider only for itself, a service for anyone,
        a guest for no one."""
        if self.kind is ActorKind.CUSTOMER:
            return self.id == customer_id
        if self.kind is ActorKind.PROVIDER:
            return self.id == provider_id
        return self.kind is ActorKind.SERVICE

    def may_view(self, booking: Booking) -> bool:
        """The booking's customer, its provider, an admin of its provider's organisation,
        or a trusted service."""
        if self.kind is ActorKind.ADMIN:
            return self.administers(booking.organisation_id)
        return self.may_act_for(customer_id=booking.customer_id, provider_id=booking.provider_id)


class BookingStatus(StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class ListType(StrEnum):
    UPCOMING = "upcoming"
    PAST = "past"


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose bookings or events: exactly one of a customer or a provider."""

    kind: ActorKind
    id: UUID

    def __post_init__(self) -> None:
        if self.kind not in (ActorKind.CUSTOMER, ActorKind.PROVIDER):
            raise ValueError("an owner is a customer or a provider")


def resolve_owner(actor: Actor, *, customer_id: UUID | None, provider_id: UUID | None) -> Owner:
    """Decide whose list is asked for.

    A customer or provider actor lists its own (the ids may be omitted or must
    name the actor); a service actor names exactly one owner.

    Raises ``InvalidArgument`` (not exactly one owner for a service) or
    ``PermissionDenied`` (someone else's list).
    """
    if actor.kind in (ActorKind.GUEST, ActorKind.ADMIN):
        raise PermissionDenied(f"a {actor.kind} has no bookings of its own to list")
    if actor.is_service:
        if (customer_id is None) == (provider_id is None):
            raise InvalidArgument(
                "customer_id", "a service must set exactly one of customer_id or provider_id"
            )
        if customer_id is not None:
            return Owner(ActorKind.CUSTOMER, customer_id)
        assert provider_id is not None
        return Owner(ActorKind.PROVIDER, provider_id)
    assert actor.id is not None
    own, other = (
        (customer_id, provider_id)
        if actor.kind is ActorKind.CUSTOMER
        else (provider_id, customer_id)
    )
    if other is not None or (own is not None and own != actor.id):
        raise PermissionDenied(f"a {actor.kind} may only read its own records")
    return Owner(actor.kind, actor.id)


@dataclass(frozen=True, slots=True)
class TimeSlot:
    """A half-open interval ``[start, end)`` of aware UTC datetimes."""

    start: datetime
    end: datetime


def validate_slot(slot: TimeSlot, *, now: datetime, max_duration: timedelta) -> None:
    """Check a requested slot.

    Raises ``InvalidArgument`` when ``end <= start`` (``end_time``), when the start
    is not in the future (``start_time``), or when the duration exceeds
    ``max_duration`` (``end_time``).
    """
    if slot.end <= slot.start:
        raise InvalidArgument("end_time", "must be after start_time")
    if slot.start <= now:
        raise InvalidArgument("start_time", "must be in the future")
    if slot.end - slot.start > max_duration:
        raise InvalidArgument(
            "end_time", f"a booking may last at most {int(max_duration.total_seconds())} seconds"
        )


def validate_idempotency_key(key: str | None) -> None:
    """1..255 printable characters; raises ``InvalidArgument`` (``idempotency_key``)."""
    if key is None:
        return
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise InvalidArgument(
            "idempotency_key", f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters"
        )


def request_fingerprint(provider_id: UUID, customer_id: UUID, slot: TimeSlot) -> str:
    """SHA-256 hex of what makes two create requests "the same" for idempotency."""
    canonical = "|".join(
        (str(provider_id), str(customer_id), slot.start.isoformat(), slot.end.isoformat())
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def reminder_due_at(start: datetime, *, lead: timedelta, now: datetime) -> datetime:
    """``start - lead``, or ``now`` when that moment has already passed (fire at once)."""
    return max(start - lead, now)


@dataclass(slots=True)
class Booking:
    """A booking of one provider by one customer for ``[start_time, end_time)``.

    A place in an event type's slot also has ``event_type_id``, the slot's
    ``slot_id`` (shared by all its places), the slot widened by the type's
    buffers (``busy_start``, ``busy_end``) and, when it was made on a public
    page, the ``guest``'s details and ``reference``.
    """

    id: UUID
    provider_id: UUID
    customer_id: UUID
    start_time: datetime
    end_time: datetime
    status: BookingStatus
    version: int
    created_at: datetime
    updated_at: datetime
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    event_type_id: UUID | None = None
    slot_id: UUID | None = None
    busy_start: datetime | None = None
    busy_end: datetime | None = None
    single_place_per_guest: bool = False
    reference: str | None = None
    guest: Guest | None = None
    # Read only: the organisation of its provider (None outside any organisation).
    organisation_id: UUID | None = None

    @property
    def is_active(self) -> bool:
        return self.status is BookingStatus.CONFIRMED

    def cancel(self, *, now: datetime, reason: str | None) -> bool:
        """Cancel the booking; return ``False`` (and change nothing) if it already was.

        Raises ``BookingNotCancellable`` once the booking has started.
        """
        if self.status is BookingStatus.CANCELLED:
            return False
        if self.start_time <= now:
            raise BookingNotCancellable("the booking has already started")
        self.status = BookingStatus.CANCELLED
        self.cancelled_at = now
        self.cancel_reason = reason
        self.updated_at = now
        self.version += 1
        return True

    def event_data(self) -> dict[str, Any]:
        """The ``data`` of booking.created and booking.cancelled events (with
        ``eventTypeId`` for a place in an event type's slot)."""
        data = {
            "bookingId": str(self.id),
            "providerId": str(self.provider_id),
            "customerId": str(self.customer_id),
            "startTime": format_time(self.start_time),
            "endTime": format_time(self.end_time),
            "status": self.status.value,
        }
        if self.event_type_id is not None:
            data["eventTypeId"] = str(self.event_type_id)
        return data

    def reminder_data(self) -> dict[str, Any]:
        """The ``data`` of booking.reminder.due events."""
        return {
            "bookingId": str(self.id),
            "providerId": str(self.provider_id),
            "customerId": str(self.customer_id),
            "startTime": format_time(self.start_time),
        }

    def copy(self) -> Booking:
        return replace(self)


@dataclass(frozen=True, slots=True)
class Provider:
    id: UUID
    name: str
    time_zone: str
    created_at: datetime
    organisation_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Customer:
    id: UUID
    name: str
    email: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append to the log in the current transaction; the log assigns its id.

    An owner event goes to its ``customer_id`` and ``provider_id``; a public
    one has neither and a ``channel`` instead (it carries no personal data).
    """

    type: str
    booking_id: UUID
    provider_id: UUID | None
    customer_id: UUID | None
    data: dict[str, Any]
    request_id: str | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event as stored: ``id`` increases in commit order."""

    id: int
    type: str
    booking_id: UUID
    provider_id: UUID | None
    customer_id: UUID | None
    data: dict[str, Any]
    occurred_at: datetime
    request_id: str | None = field(default=None)
    channel: str | None = field(default=None)
    trace_context: str | None = field(default=None)


@dataclass(frozen=True, slots=True)
class EventPage:
    """A page of the event log after a cursor, ascending by id, and the log's head:
    the highest id committed when the read began (0 for an empty log)."""

    events: list[LoggedEvent]
    head_id: int


class ReminderState(StrEnum):
    """``scheduled`` (in PostgreSQL only) -> ``enqueued`` (a dramatiq message is on its
    way) -> ``sent``; or ``cancelled`` with its booking."""

    SCHEDULED = "scheduled"
    ENQUEUED = "enqueued"
    SENT = "sent"
    CANCELLED = "cancelled"


class ClaimOutcome(StrEnum):
    """What a reminder claim found (see ``BookingService.claim_reminder``)."""

    CLAIMED = "claimed"
    ALREADY_SENT = "already_sent"
    CANCELLED = "cancelled"
    NOT_DUE = "not_due"


# A message may arrive this early (clocks of the enqueuing and consuming hosts
# differ by a little) and still be claimed.
CLAIM_EARLY_TOLERANCE = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Reminder:
    """The reminder of one booking; its dramatiq job id is ``reminder:{booking_id}``."""

    booking_id: UUID
    due_at: datetime
    state: ReminderState = ReminderState.SCHEDULED

    @property
    def job_id(self) -> str:
        return reminder_job_id(str(self.booking_id))
