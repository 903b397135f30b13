"""Feeding due reminders from PostgreSQL to dramatiq, shortly before they are due.

PostgreSQL holds the schedule (``reminders``). Every ``interval`` seconds, or
at once when woken for a reminder that is due sooner than that, one pass in one
transaction:

1. takes up to ``batch`` reminders ``FOR UPDATE SKIP LOCKED`` (so any number of
   booking-core replicas can run it side by side without sending one twice):
   those ``scheduled`` and due within ``horizon``, and those ``enqueued`` whose
   message should have run ``redeliver_after`` ago but was never claimed (a
   worker died, Redis lost the message);
2. sends them as dramatiq messages (queue ``reminders``), each with a delay
   equal to the time left until it is due (none if it is due already).
   Reminders due within ``REMINDER_GROUP_MS`` of each other go together in one
   ``send_reminders`` message (up to ``REMINDER_BATCH_LIMIT``), delayed until the
   last of them is due, so a burst due at the same second costs dramatiq a few
   messages and booking-core a few claim transactions rather than one each;
3. marks them ``enqueued`` and commits. If sending fails, the transaction rolls
   back and the next pass tries again; a message sent twice is harmless because
   the claim is idempotent.

Dramatiq only ever holds messages due within the horizon: its Redis broker
keeps delayed messages in worker memory and cannot cancel them, and bookings
are made days ahead and get cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

import sqlalchemy as sa
from bookings_common.jobs import (
    REMINDER_ACTOR,
    REMINDER_BATCH_ACTOR,
    REMINDER_BATCH_LIMIT,
    REMINDER_GROUP_MS,
    REMINDER_QUEUE,
)
from bookings_common.logging import get_logger
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

from booking_core.service_layer.ports import Clock

from .passes import PeriodicPass
from .tables import reminders

log = get_logger(__name__)
DEFAULT_BATCH: Final = 500


class ReminderScheduler(PeriodicPass):
    """A scheduling pass (``schedule_once``) and its loop (``run``); ``wake`` ends a wait."""

    name = "reminders"

    def __init__(
        self,
        engine: AsyncEngine,
        broker: RedisBroker,
        clock: Clock,
        *,
        horizon: timedelta,
        redeliver_after: timedelta,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        self._engine = engine
        self._broker = broker
        self._clock = clock
        self._horizon = horizon
        self._redeliver_after = redeliver_after
        super().__init__(batch=batch)

    async def schedule_once(self) -> int:
        """Enqueue one batch of due-soon and lost reminders; return how many.

        Raises ``RedisError`` when Redis is unreachable (nothing is marked).
        """
        now = self._clock()
        stale = now - self._redeliver_after
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(reminders.c.booking_id, reminders.c.due_at)
                    .where(
                        sa.or_(
                            sa.and_(
                                reminders.c.state == "scheduled",
                                reminders.c.due_at <= now + self._horizon,
                            ),
                            sa.and_(
                                reminders.c.state == "enqueued",
                                reminders.c.due_at <= stale,
                                reminders.c.enqueued_at <= stale,
                            ),
                        )
                    )
                    .order_by(reminders.c.due_at)
                    .limit(self._batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            jobs = [(str(booking_id), due_at.timestamp()) for booking_id, due_at in rows]
            try:
                await asyncio.to_thread(self._enqueue, jobs)
            except OSError as exc:  # a socket error of Redis's, not of the database
                raise RedisConnectionError(str(exc)) from exc
            await conn.execute(
                reminders.update()
                .where(reminders.c.booking_id.in_([booking_id for booking_id, _ in rows]))
                .values(state="enqueued", enqueued_at=now, attempts=reminders.c.attempts + 1)
            )
        self.redis_ok()
        log.info("reminders.enqueued", count=len(jobs))
        return len(jobs)

    def _enqueue(self, jobs: Sequence[tuple[str, float]]) -> None:
        """Send ``(booking id, due time as epoch seconds)`` jobs, ordered by due time,
        grouped (``group_due``). Each delay is taken just before its send, since
        dramatiq adds it to its own clock reading then."""
        for group in group_due(jobs):
            due = group[-1][1]
            delay_ms = max(0, round((due - time.time()) * 1000))
            ids = [booking_id for booking_id, _ in group]
            message: Message[None] = Message(
                queue_name=REMINDER_QUEUE,
                actor_name=REMINDER_ACTOR if len(ids) == 1 else REMINDER_BATCH_ACTOR,
                args=(ids[0],) if len(ids) == 1 else (ids,),
                kwargs={},
                options={},
            )
            self._broker.enqueue(message, delay=delay_ms or None)

    async def pass_once(self) -> int:
        return await self.schedule_once()


def group_due(jobs: Sequence[tuple[str, float]]) -> list[list[tuple[str, float]]]:
    """``(booking id, due epoch seconds)`` jobs, ascending by due time, cut into runs
    whose last is due at most ``REMINDER_GROUP_MS`` after their first, each of at
    most ``REMINDER_BATCH_LIMIT``."""
    groups: list[list[tuple[str, float]]] = []
    for job in jobs:
        current = groups[-1] if groups else None
        if (
            current is None
            or len(current) >= REMINDER_BATCH_LIMIT
            or (job[1] - current[0][1]) * 1000 > REMINDER_GROUP_MS
        ):
            groups.append([job])
        else:
            current.append(job)
    return groups
