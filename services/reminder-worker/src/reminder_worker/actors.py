"""The reminder actor. Import ``reminder_worker.broker`` (which imports this module)
rather than this module directly, so the actor registers on the right broker."""

from __future__ import annotations

import asyncio

import dramatiq
import structlog
from bookings_common.jobs import REMINDER_ACTOR, REMINDER_QUEUE, reminder_job_id
from bookings_common.logging import REQUEST_ID_KEY

from .broker import clients
from .delivery import deliver

# A claim and a publish take milliseconds; 30 s means booking-core or Redis is
# stuck, and the retry (with backoff from 0.5 s up to 30 s) is safe.
TIME_LIMIT_MS = 30_000
MAX_RETRIES = 20


@dramatiq.actor(
    queue_name=REMINDER_QUEUE,
    actor_name=REMINDER_ACTOR,
    time_limit=TIME_LIMIT_MS,
    max_retries=MAX_RETRIES,
    min_backoff=500,
    max_backoff=30_000,
)
async def send_reminder(booking_id: str) -> None:
    """Claim and publish the reminder of ``booking_id`` (a uuid string)."""
    core, publisher = clients.open()
    with structlog.contextvars.bound_contextvars(**{REQUEST_ID_KEY: reminder_job_id(booking_id)}):
        outcome = await deliver(core, publisher, booking_id)
    if outcome.retry_in_ms is not None:  # delivered early: come back when it is due
        await asyncio.to_thread(
            send_reminder.send_with_options, args=(booking_id,), delay=outcome.retry_in_ms
        )
