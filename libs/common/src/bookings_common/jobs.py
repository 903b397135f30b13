"""The job wire contracts shared by booking-core (which enqueues them) and the workers
(which run them).

The reminder job: dramatiq queue ``reminders``, actor ``send_reminder``, one
positional argument, the booking id (a uuid string)."""

from __future__ import annotations

from typing import Final

REMINDER_QUEUE: Final = "reminders"
REMINDER_ACTOR: Final = "send_reminder"


def reminder_job_id(booking_id: str) -> str:
    """The reminder's job id, ``reminder:{bookingId}`` (logged with every attempt)."""
    return f"reminder:{booking_id}"


# The mail job: dramatiq queue ``mail``, actor ``send_mail``, one positional argument,
# the id (an integer) of a booking.created, booking.cancelled or booking.reminder.due
# event; booking-core enqueues it, the mail worker runs it.
MAIL_QUEUE: Final = "mail"
MAIL_ACTOR: Final = "send_mail"


def mail_job_id(event_id: int) -> str:
    """The mail job's id, ``mail:{eventId}`` (logged with every attempt)."""
    return f"mail:{event_id}"
