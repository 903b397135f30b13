"""Coalescing concurrent calls into batches, without waiting to fill one.

The worker runs many reminder jobs at once on one event loop. When a burst falls
due, each job asks booking-core to claim one reminder; ``Coalescer`` turns those
asks into few ``ClaimReminders`` calls. The first ask is sent at once (no timer,
so a lone reminder is not delayed); asks that arrive while a call is in flight
wait for it and then go together in the next call, up to ``limit`` keys. A key
asked for twice goes in two successive calls, never twice in one and never one
answer to two askers: a claim's answer (CLAIMED) must reach one job only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class Coalescer(Generic[K, R]):
    """``await coalescer(key)`` gives ``send([..., key, ...])``'s answer for ``key``.

    ``send`` takes distinct keys and returns one result per key, in order. If it
    raises, every asker of that batch gets the exception. Use from one event loop.
    """

    def __init__(self, send: Callable[[Sequence[K]], Awaitable[Sequence[R]]], limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._send = send
        self._limit = limit
        # Per key, its askers in arrival order; each call takes the first of each key.
        self._waiting: dict[K, list[asyncio.Future[R]]] = {}
        self._drainer: asyncio.Task[None] | None = None
        self.batches = 0  # calls of ``send`` so far (for tests and metrics)

    async def __call__(self, key: K) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            keys = list(self._waiting)[: self._limit]
            askers = {}
            for key in keys:
                waiting = self._waiting[key]
                askers[key] = waiting.pop(0)
                if not waiting:
                    del self._waiting[key]
            self.batches += 1
            try:
                results = await self._send(keys)
                if len(results) != len(keys):
                    raise RuntimeError(f"{len(results)} results for {len(keys)} keys")
            except BaseException as exc:
                for future in askers.values():
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    for futures in self._waiting.values():
                        for future in futures:
                            future.cancel()
                    self._waiting.clear()
                    raise
                continue
            for key, result in zip(keys, results, strict=True):
                if not askers[key].done():
                    askers[key].set_result(result)
