"""Forgetting idempotency keys once their retention window has passed.

A key is kept with its booking for ``retention`` (``IDEMPOTENCY_KEY_RETENTION_HOURS``,
24 by default and at least 24, as the IETF idempotency-key draft's clients expect):
within it a retry replays the original outcome; after it the key is cleared, and
the same key names a new request. Keys are cleared in batches of ``batch`` rows
(one short transaction each, ``FOR UPDATE SKIP LOCKED`` so replicas share the work
and live bookings are never waited on).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .tables import bookings, ticket_bookings

_TABLES = (bookings, ticket_bookings)


class IdempotencyKeyExpiry:
    """``expire_once()`` clears up to ``batch`` expired keys and says how many."""

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Callable[[], datetime],
        *,
        retention: timedelta,
        batch: int = 1000,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._retention = retention
        self.batch = batch

    async def expire_once(self) -> int:
        cutoff = self._clock() - self._retention
        cleared = 0
        async with self._engine.begin() as conn:
            for table in _TABLES:
                due = (
                    sa.select(table.c.id)
                    .where(table.c.idempotency_key.isnot(None), table.c.created_at < cutoff)
                    .limit(self.batch - cleared)
                    .with_for_update(skip_locked=True)
                    .scalar_subquery()
                )
                result = await conn.execute(
                    table.update().where(table.c.id.in_(due)).values(idempotency_key=None)
                )
                cleared += result.rowcount
                if cleared >= self.batch:
                    break
        return cleared
