"""The loop the reminder scheduler and the mail dispatcher share: one pass every
``interval`` seconds, at once when woken, back to back while a backlog lasts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from bookings_common.logging import get_logger
from redis.exceptions import RedisError

log = get_logger(__name__)


class PeriodicPass:
    """Subclasses implement ``pass_once`` (returning how much it did, at most ``batch``
    when there may be more) and call ``redis_ok`` after a pass that reached Redis.

    A Redis outage is logged once (``<name>.redis_unavailable``) and its end once
    (``<name>.redis_recovered``); any other failure (the database is down, say) is
    logged as ``<name>.pass_failed``; the next pass retries either way.
    """

    name = "pass"

    def __init__(self, *, batch: int) -> None:
        self._batch = batch
        self._wake = asyncio.Event()
        self._redis_down = False

    def wake(self) -> None:
        """Run the next pass now."""
        self._wake.set()

    async def pass_once(self) -> int:
        raise NotImplementedError

    def redis_ok(self) -> None:
        if self._redis_down:
            self._redis_down = False
            log.info(f"{self.name}.redis_recovered")

    async def run(self, interval: float) -> None:
        """Pass every ``interval`` seconds (at once when woken, or while a backlog lasts)."""
        while True:
            self._wake.clear()
            try:
                done = await self.pass_once()
            except RedisError as exc:
                if not self._redis_down:
                    self._redis_down = True
                    log.warning(f"{self.name}.redis_unavailable", error=str(exc))
                done = 0
            except Exception as exc:
                log.warning(f"{self.name}.pass_failed", error=str(exc))
                done = 0
            if done < self._batch:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        await self._wake.wait()


class FunctionPass(PeriodicPass):
    """A ``PeriodicPass`` whose pass is ``work()`` (the ticket expiry's, say)."""

    def __init__(self, name: str, work: Callable[[], Awaitable[int]], *, batch: int) -> None:
        super().__init__(batch=batch)
        self.name = name
        self._work = work

    async def pass_once(self) -> int:
        return await self._work()
