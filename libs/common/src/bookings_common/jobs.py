"""The job wire contracts shared by booking-core (which enqueues them) and the workers
(which run them).

The reminder jobs, on dramatiq queue ``reminders``: actor ``send_reminder``, one
positional argument, the booking id (a uuid string); and actor
``send_reminders``, one positional argument, a list of up to
``REMINDER_BATCH_LIMIT`` booking ids whose reminders fall due together (within
``REMINDER_GROUP_MS`` of each other), sent when the last of them is due."""

from __future__ import annotations

from typing import Final

REMINDER_QUEUE: Final = "reminders"
REMINDER_ACTOR: Final = "send_reminder"
REMINDER_BATCH_ACTOR: Final = "send_reminders"
REMINDER_BATCH_LIMIT: Final = 500
# Reminders due this close together travel in one message, so one may be this late
# on top of the pipeline's own lateness, and none is early.
REMINDER_GROUP_MS: Final = 50


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


# Payments, between booking-core and payment-service, on durable dramatiq queues
# (Redis lists, acknowledged after processing; never pub/sub). Each message has
# one positional argument, a JSON object with camelCase keys:
#
# ``payments`` / ``process_payment`` (booking-core -> payment-service):
#   {messageId, kind: "charge"|"refund", bookingId, idempotencyKey, amountMinor,
#    currency, paymentMethod (charge), chargeId (refund)}
# ``payment_outcomes`` / ``payment_outcome`` (payment-service -> booking-core):
#   {messageId, requestId, kind, bookingId, idempotencyKey, status:
#    "succeeded"|"failed", chargeId, failureCode, failureMessage}
# An outcome's messageId is derived from its idempotency key and status, so the
# same outcome sent twice (payment-service restarted) is the same message.
PAYMENTS_QUEUE: Final = "payments"
PAYMENT_ACTOR: Final = "process_payment"
OUTCOMES_QUEUE: Final = "payment_outcomes"
OUTCOME_ACTOR: Final = "payment_outcome"
