"""The reminder actor. Import ``reminder_worker.broker`` (which imports this module)
rather than this module directly, so the actor registers on the right broker."""

from __future__ import annotations

import asyncio

import dramatiq
import structlog
from bookings_common.jobs import (
    REMINDER_ACTOR,
    REMINDER_BATCH_ACTOR,
    REMINDER_QUEUE,
    reminder_job_id,
)
from bookings_common.logging import REQUEST_ID_KEY, get_logger
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from redis.exceptions import RedisError

from .broker import clients
from .delivery import deliver, deliver_many

log = get_logger("reminder_worker.actors")
# What a retry may cure: Redis or booking-core unreachable, slow or restarting.
RETRIED_STATUSES = frozenset({Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED})
# A claim and a publish take milliseconds; 30 s means booking-core or Redis is
# stuck, and the retry (with backoff from 0.5 s up to 30 s) is safe.
TIME_LIMIT_MS = 30_000
MAX_RETRIES = 20


def transient(exc: BaseException) -> bool:
    """Whether a retry may cure ``exc``: Redis or booking-core unreachable or slow."""
    if isinstance(exc, GRPCError):
        return exc.status in RETRIED_STATUSES
    return isinstance(exc, RedisError | OSError | StreamTerminatedError | TimeoutError)


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
        try:
            outcome = await deliver(core, publisher, booking_id)
        except Exception as exc:
            if not transient(exc):
                raise
            # Redis or booking-core is away for now: one line, then dramatiq's retry
            # with backoff (dramatiq.Retry is retried like any error, without a traceback).
            log.warning(
                "reminder.retry", bookingId=booking_id, error=f"{type(exc).__name__}: {exc}"
            )
            raise dramatiq.Retry(str(exc)) from None
    if outcome.retry_in_ms is not None:  # delivered early: come back when it is due
        await asyncio.to_thread(
            send_reminder.send_with_options, args=(booking_id,), delay=outcome.retry_in_ms
        )


@dramatiq.actor(
    queue_name=REMINDER_QUEUE,
    actor_name=REMINDER_BATCH_ACTOR,
    time_limit=TIME_LIMIT_MS,
    max_retries=MAX_RETRIES,
    min_backoff=500,
    max_backoff=30_000,
)
async def send_reminders(booking_ids: list[str]) -> None:
    """Claim and publish the reminders of ``booking_ids`` (uuid strings), due together."""
    core, publisher = clients.open()
    job_id = reminder_job_id(booking_ids[0]) if booking_ids else "reminder:-"
    with structlog.contextvars.bound_contextvars(**{REQUEST_ID_KEY: job_id}):
        try:
            outcome = await deliver_many(core, publisher, booking_ids)
        except Exception as exc:
            if not transient(exc):
                raise
            log.warning(
                "reminder.retry",
                bookingIds=len(booking_ids),
                first=booking_ids[0],
                error=f"{type(exc).__name__}: {exc}",
            )
            raise dramatiq.Retry(str(exc)) from None
    for booking_id, delay in outcome.retry_in_ms.items():  # delivered early: come back
        await asyncio.to_thread(send_reminder.send_with_options, args=(booking_id,), delay=delay)
