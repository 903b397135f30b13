"""Mail: which events send email, to whom, and the calendar invitation they carry.

A booking's invitation follows RFC 5546 (iTIP) over RFC 5545 (iCalendar):

- ``UID`` is the booking's id, which never changes (RFC 7986, section 5.3
  recommends a UUID), so every calendar updates one entry in place;
- ``SEQUENCE`` is the booking's version (1 when made, 2 once cancelled), so a
  calendar applies the newest of whatever it receives;
- ``METHOD:REQUEST`` while the booking stands, ``METHOD:CANCEL`` with
  ``STATUS:CANCELLED`` once it is cancelled (RFC 5546, section 3.2.5), which
  removes the entry rather than adding a second one;
- ``DTSTAMP`` is when that version was written, so the same version always
  renders the same invitation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final
from uuid import UUID

from bookings_common.events import BOOKING_CANCELLED, BOOKING_CREATED, BOOKING_REMINDER_DUE

from .model import Booking, BookingStatus


class MailKind(StrEnum):
    """What a message is about (``mail_deliveries.kind``)."""

    CREATED = "created"
    CANCELLED = "cancelled"
    REMINDER = "reminder"


# The event types that send mail, and what kind of message each sends.
MAIL_KIND_OF: Final[dict[str, MailKind]] = {
    BOOKING_CREATED: MailKind.CREATED,
    BOOKING_CANCELLED: MailKind.CANCELLED,
    BOOKING_REMINDER_DUE: MailKind.REMINDER,
}


class InvitationMethod(StrEnum):
    """The iTIP method (RFC 5546, section 1.4)."""

    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


class RecipientRole(StrEnum):
    GUEST = "guest"
    CUSTOMER = "customer"
    PROVIDER = "provider"


@dataclass(frozen=True, slots=True)
class Party:
    """Someone with an email address: ``name`` may be empty."""

    email: str
    name: str


@dataclass(frozen=True, slots=True)
class Recipient:
    role: RecipientRole
    party: Party


@dataclass(frozen=True, slots=True)
class BookingDetails:
    """What a booking's mail shows besides the booking itself.

    ``summary`` is the event type's name, or "Appointment with <provider>";
    ``time_zone`` the IANA name times are shown in (the event type's, else the
    provider's). ``provider_email`` is the provider's staff account, if any;
    ``customer`` the customer on record (a guest booking's guest is on the booking).
    """

    summary: str
    description: str
    location: str
    time_zone: str
    provider_name: str
    provider_email: str | None
    customer: Party


@dataclass(frozen=True, slots=True)
class Invitation:
    """One ``VEVENT`` in a ``VCALENDAR`` with its iTIP method; times are aware."""

    uid: str
    sequence: int
    method: InvitationMethod
    summary: str
    description: str
    location: str
    start: datetime
    end: datetime
    time_zone: str
    stamp: datetime
    organizer: Party
    attendees: tuple[Party, ...]
    cancelled: bool


def attendee_of(booking: Booking, details: BookingDetails) -> Recipient:
    """The person the booking is for: its guest, else its customer."""
    if booking.guest is not None:
        return Recipient(RecipientRole.GUEST, Party(booking.guest.email, booking.guest.full_name))
    return Recipient(RecipientRole.CUSTOMER, details.customer)


def recipients_of(booking: Booking, details: BookingDetails) -> list[Recipient]:
    """Who gets the booking's mail: the guest or customer, and the provider when the
    provider has a staff account with an email (one message per address)."""
    recipients = [attendee_of(booking, details)]
    provider = details.provider_email
    if provider and provider.casefold() != recipients[0].party.email.casefold():
        recipients.append(Recipient(RecipientRole.PROVIDER, Party(provider, details.provider_name)))
    return recipients


def invitation_for(
    booking: Booking, details: BookingDetails, *, sender: Party, version: int | None = None
) -> Invitation:
    """The booking's invitation at ``version`` (default: its current one).

    Any version below the booking's current one of a cancelled booking is the
    invitation it had before it was cancelled (bookings change only by being
    cancelled). The organizer is the provider's staff address, or ``sender``
    (``MAIL_FROM``) with the provider's name when the provider has none.
    """
    current = booking.version if version is None else min(version, booking.version)
    cancelled = booking.status is BookingStatus.CANCELLED and current == booking.version
    organizer = Party(details.provider_email or sender.email, details.provider_name)
    attendee = attendee_of(booking, details).party
    return Invitation(
        uid=invitation_uid(booking.id),
        sequence=current,
        method=InvitationMethod.CANCEL if cancelled else InvitationMethod.REQUEST,
        summary=details.summary,
        description=details.description,
        location=details.location,
        start=booking.start_time,
        end=booking.end_time,
        time_zone=details.time_zone,
        stamp=(booking.cancelled_at or booking.updated_at) if cancelled else booking.created_at,
        organizer=organizer,
        attendees=(attendee,),
        cancelled=cancelled,
    )


def invitation_uid(booking_id: UUID) -> str:
    """The invitation's ``UID`` for the booking's whole life: its id."""
    return str(booking_id)
