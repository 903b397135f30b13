"""Publishing the event log to Redis pub/sub (channel ``bookings.events``).

Two paths, both at least once, both in id order within one batch:

- ``OutboxPublisher.publish_committed``: right after a commit, the handler hands
  its events to an in-process queue; one drain task publishes them in a Redis
  pipeline and marks them published. Nothing waits on it and a full queue or a
  Redis error only defers the events to the relay.
- ``OutboxPublisher.relay_once``: every few seconds, the replica that wins a
  transaction-scoped advisory lock publishes, in id order, the events that are
  still unpublished and older than ``min_age`` (Redis was down, a process died
  between commit and publish), locking them ``FOR UPDATE SKIP LOCKED``.

Clients drop duplicates by event id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

import sqlalchemy as sa
from bookings_common.events import CHANNEL, EventEnvelope
from bookings_common.logging import get_logger
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from booking_core.domain.model import LoggedEvent

from .locks import OUTBOX_RELAY_LOCK
from .postgres import is_unavailable, logged_event
from .tables import events

log = get_logger(__name__)
DRAIN_BATCH: Final = 500


# Marks events published in one statement. Losing a mark in a crash only causes
# a duplicate publish, so its commit need not wait for the WAL flush: an
# uncorrelated subquery (evaluated once) sets synchronous_commit off for the
# statement's own transaction (the setting is read at commit, before a local
# setting is undone), without the extra round trips of BEGIN, SET LOCAL and
# COMMIT.
_ASYNC_COMMIT = sa.select(
    sa.func.set_config("synchronous_commit", "off", sa.true())
).scalar_subquery()
MARK_PUBLISHED: Final = (
    events.update()
    .where(
        events.c.id == sa.any_(sa.bindparam("ids", type_=pg.ARRAY(sa.BigInteger()))),
        events.c.published_at.is_(None),
        _ASYNC_COMMIT.isnot(None),
    )
    .values(published_at=sa.func.now())
)


def envelope(event: LoggedEvent) -> EventEnvelope:
    return EventEnvelope(
        event.id, event.type, event.occurred_at, event.data, traceparent=event.trace_context
    )


class OutboxPublisher:
    """Implements the ``EventPublisher`` port; owns its drain task (``run``)."""

    def __init__(
        self,
        redis: Redis,
        engine: AsyncEngine,
        *,
        queue_size: int = 10_000,
        relay_batch: int = 500,
        relay_min_age: timedelta = timedelta(seconds=5),
    ) -> None:
        self._redis = redis
        self._engine = engine
        self._queue: asyncio.Queue[LoggedEvent] = asyncio.Queue(queue_size)
        self._relay_batch = relay_batch
        self._relay_min_age = relay_min_age
        self._redis_down = False
        self._database_down = False

    def publish_committed(self, events: Sequence[LoggedEvent]) -> None:
        for event in events:
            try:
                self._queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("outbox.queue_full", eventId=event.id)

    async def run(self) -> None:
        """Drain the queue until cancelled; publish batches, then mark them published."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < DRAIN_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._publish(batch)
                # One statement, its own transaction: one round trip.
                async with self._engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await self._mark_published(conn, [e.id for e in batch])
            except RedisError as exc:
                self._note_redis_down(exc)
            except Exception as exc:  # the relay publishes them later: at least once
                if is_unavailable(exc):  # a restart, say: one short line, the relay retries
                    log.warning(
                        "outbox.database_unavailable", error=_first_line(exc), count=len(batch)
                    )
                else:
                    log.warning("outbox.publish_failed", error=str(exc), count=len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def join(self) -> None:
        """Return once every event handed over so far has been processed (used at shutdown)."""
        await self._queue.join()

    async def relay_once(self) -> int:
        """Publish one batch of stale unpublished events; return how many were published.

        Returns 0 without doing anything when another replica holds the relay lock.
        Raises ``RedisError`` when Redis is unreachable (nothing marked).
        """
        async with self._engine.begin() as conn:
            locked = await conn.scalar(
                sa.select(sa.func.pg_try_advisory_xact_lock(OUTBOX_RELAY_LOCK))
            )
            if not locked:
                return 0
            rows = (
                await conn.execute(
                    sa.select(events)
                    .where(
                        events.c.published_at.is_(None),
                        events.c.created_at < sa.func.now() - self._relay_min_age,
                    )
                    .order_by(events.c.id)
                    .limit(self._relay_batch)
                    .with_for_update(skip_locked=True)
                )
            ).mappings()
            batch = [logged_event(row) for row in rows]
            if not batch:
                return 0
            await self._publish(batch)
            await self._mark_published(conn, [e.id for e in batch])
        log.info("outbox.relayed", count=len(batch), firstId=batch[0].id, lastId=batch[-1].id)
        return len(batch)

    async def run_relay(self, interval: float) -> None:
        """Call ``relay_once`` every ``interval`` seconds (sooner while there is a backlog)."""
        while True:
            try:
                published = await self.relay_once()
                if self._database_down:
                    self._database_down = False
                    log.info("outbox.database_recovered")
            except RedisError as exc:
                self._note_redis_down(exc)
                published = 0
            except Exception as exc:
                if not is_unavailable(exc):
                    log.warning("outbox.relay_failed", error=str(exc))
                elif not self._database_down:  # an outage: once at its start, once at its end
                    self._database_down = True
                    log.warning("outbox.database_unavailable", error=_first_line(exc))
                published = 0
            if published < self._relay_batch:
                await asyncio.sleep(interval)

    async def _publish(self, batch: Sequence[LoggedEvent]) -> None:
        """Publish in one pipeline; raises ``RedisError`` (socket errors included)."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in batch:
                    pipe.publish(CHANNEL, envelope(event).to_message())
                await pipe.execute()
        except OSError as exc:  # so that only Redis's own failures read as Redis down
            raise RedisConnectionError(str(exc)) from exc
        for event in batch:
            # One line per event, carrying the requestId of the call that wrote it.
            log.info(
                "event.published",
                eventId=event.id,
                type=event.type,
                bookingId=str(event.booking_id),
                requestId=event.request_id,
            )
        if self._redis_down:
            self._redis_down = False
            log.info("outbox.redis_recovered")

    def _note_redis_down(self, exc: BaseException) -> None:
        if not self._redis_down:
            self._redis_down = True
            log.warning("outbox.redis_unavailable", error=str(exc))

    @staticmethod
    async def _mark_published(conn: AsyncConnection, ids: list[int]) -> None:
        await conn.execute(MARK_PUBLISHED, {"ids": ids})


def _first_line(exc: BaseException) -> str:
    """The error's first line, at most 200 characters (SQLAlchemy appends the SQL)."""
    return (str(exc).splitlines() or [""])[0][:200]
