"""The reminder job's wire contract, shared by booking-core (which enqueues it) and the
reminder worker (which runs it): dramatiq queue ``reminders``, actor ``send_reminder``,
one positional argument, the booking id (a uuid string)."""

from __future__ import annotations

from typing import Final

REMINDER_QUEUE: Final = "reminders"
REMINDER_ACTOR: Final = "send_reminder"


def reminder_job_id(booking_id: str) -> str:
    """The reminder's job id, ``reminder:{bookingId}`` (logged with every attempt)."""
    return f"reminder:{booking_id}"
