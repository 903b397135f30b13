"""Handing mail-worthy events to the mail worker (dramatiq queue ``mail``).

The event log is the outbox: a booking's mail is decided in the same
transaction as the booking, because its event is. Every ``interval`` seconds,
or at once when woken by a new mail-worthy event, one pass in one transaction:

1. takes a transaction-scoped advisory lock (``MAIL_DISPATCH_LOCK``; a replica
   that does not get it skips the pass), reads ``mail_cursor``;
2. reads up to ``batch`` events after the cursor (event ids become visible in
   increasing order, so nothing can appear below the cursor later), records a
   ``mail_jobs`` row for each mail-worthy one, and takes the jobs still
   ``enqueued`` that no worker completed within ``redeliver_after`` (a worker
   died, Redis lost the message, retries ran out while SMTP was down);
3. sends one ``send_mail(event_id)`` message per job (all in one round trip to
   Redis, ``RedisBroker.enqueue_many``), advances the cursor and
   commits. If sending fails the transaction rolls back and the next pass tries
   again; a message sent twice is harmless because each delivery is claimed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Final

import sqlalchemy as sa
from bookings_common.dramatiq_redis import RedisBroker
from bookings_common.jobs import MAIL_ACTOR, MAIL_QUEUE
from bookings_common.logging import get_logger
from bookings_common.tracing import MESSAGE_OPTION
from dramatiq import Message
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from booking_core.domain.mail import MAIL_KIND_OF
from booking_core.service_layer.ports import Clock

from .locks import MAIL_DISPATCH_LOCK
from .passes import PeriodicPass
from .tables import bookings, events, mail_cursor, mail_jobs

log = get_logger(__name__)
DEFAULT_BATCH: Final = 500
MAIL_EVENT_TYPES: Final = tuple(MAIL_KIND_OF)


class MailDispatcher(PeriodicPass):
    """A dispatching pass (``dispatch_once``) and its loop (``run``); ``wake`` ends a wait."""

    name = "mail"

    def __init__(
        self,
        engine: AsyncEngine,
        broker: RedisBroker,
        clock: Clock,
        *,
        redeliver_after: timedelta,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        self._engine = engine
        self._broker = broker
        self._clock = clock
        self._redeliver_after = redeliver_after
        super().__init__(batch=batch)

    async def dispatch_once(self) -> int:
        """Enqueue one batch of new and lost mail jobs; return how many events it
        looked at (new ones) plus jobs it sent again.

        Raises ``RedisError`` when Redis is unreachable (nothing is recorded).
        """
        now = self._clock()
        async with self._engine.begin() as conn:
            locked = await conn.scalar(
                sa.select(sa.func.pg_try_advisory_xact_lock(sa.literal(MAIL_DISPATCH_LOCK)))
            )
            if not locked:
                return 0
            cursor = await conn.scalar(
                sa.select(mail_cursor.c.last_event_id).where(mail_cursor.c.id == 1)
            )
            # Mail goes out for appointments and event-type places (rows of bookings),
            # not for ticket bookings' events.
            appointment = sa.exists().where(bookings.c.id == events.c.booking_id)
            rows = (
                await conn.execute(
                    sa.select(
                        events.c.id,
                        events.c.type,
                        events.c.channel,
                        events.c.trace_context,
                        appointment.label("mailed"),
                    )
                    .where(events.c.id > cursor)
                    .order_by(events.c.id)
                    .limit(self._batch)
                )
            ).all()
            new = [
                row.id
                for row in rows
                if row.type in MAIL_EVENT_TYPES and row.channel is None and row.mailed
            ]
            # A new job continues the trace of the call that wrote its event.
            traces = {row.id: row.trace_context for row in rows if row.trace_context}
            if new:
                await conn.execute(
                    pg_insert(mail_jobs)
                    .values([{"event_id": event_id, "enqueued_at": now} for event_id in new])
                    .on_conflict_do_nothing()
                )
            lost = (
                (
                    await conn.execute(
                        mail_jobs.update()
                        .where(
                            mail_jobs.c.state == "enqueued",
                            mail_jobs.c.enqueued_at <= now - self._redeliver_after,
                        )
                        .values(enqueued_at=now, attempts=mail_jobs.c.attempts + 1)
                        .returning(mail_jobs.c.event_id)
                    )
                )
                .scalars()
                .all()
            )
            jobs = [*new, *lost]
            if jobs:
                try:
                    await asyncio.to_thread(self._enqueue, jobs, traces)
                except OSError as exc:  # a socket error of Redis's, not of the database
                    raise RedisConnectionError(str(exc)) from exc
            if rows:
                await conn.execute(
                    mail_cursor.update()
                    .where(mail_cursor.c.id == 1)
                    .values(last_event_id=rows[-1].id)
                )
        self.redis_ok()
        if jobs:
            log.info("mail.enqueued", count=len(new), redelivered=len(lost))
        return len(rows) + len(lost)

    def _enqueue(self, event_ids: Sequence[int], traces: Mapping[int, str]) -> None:
        messages: list[Message[None]] = []
        for event_id in event_ids:
            trace = traces.get(event_id)
            messages.append(
                Message(
                    queue_name=MAIL_QUEUE,
                    actor_name=MAIL_ACTOR,
                    args=(event_id,),
                    kwargs={},
                    options={MESSAGE_OPTION: trace} if trace else {},
                )
            )
        self._broker.enqueue_many(messages)

    async def pass_once(self) -> int:
        return await self.dispatch_once()
