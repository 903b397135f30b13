"""Per-key rate limits (aiolimiter leaky buckets) with a bounded key map.

Each key (``user:<sub>``, ``ip:<address>``, ``auth-failures:<address>``) gets an
``AsyncLimiter`` of ``per_minute`` requests per 60 s. A bucket leaks
continuously, so a client may burst up to the limit and then gets one request
per ``60 / per_minute`` s.

Memory stays bounded under a flood of distinct keys: the map is kept in
least-recently-used order, a bucket idle for a full period has leaked empty
(it is equivalent to a new one) and is dropped, and past ``max_keys`` the
least recently used bucket is dropped even if not empty (its key then starts
afresh; ``evictions`` counts those).

These limits are per process: with N replicas behind a balancer a client could
get up to N times the limit. ``bookings_web.shared_ratelimit`` keeps the same
buckets in Redis for every replica and falls back to these when Redis is
unreachable.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final, Protocol

from aiolimiter import AsyncLimiter

PERIOD_SECONDS: Final = 60.0
RATE_LIMIT_HEADERS: Final = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


@dataclass(frozen=True, slots=True)
class RateDecision:
    """One check. Header values follow the IETF RateLimit header fields draft (seconds)."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def headers(self) -> dict[str, str]:
        """``RateLimit-Limit/-Remaining/-Reset`` and, when refused, ``Retry-After`` (RFC 9110)."""
        values = dict(
            zip(
                RATE_LIMIT_HEADERS,
                (str(self.limit), str(self.remaining), str(self.reset_seconds)),
                strict=True,
            )
        )
        if not self.allowed:
            values["Retry-After"] = str(self.retry_after_seconds)
        return values


class RateLimiter(Protocol):
    """``per_minute`` requests per key; ``check`` takes one if there is room, never waits."""

    per_minute: int

    async def check(self, key: str) -> RateDecision: ...


class KeyedRateLimiter:
    """``per_minute`` requests per key; at most ``max_keys`` buckets in memory."""

    def __init__(self, per_minute: int, *, max_keys: int = 100_000) -> None:
        if per_minute < 1 or max_keys < 1:
            raise ValueError("per_minute and max_keys must be positive")
        self.per_minute = per_minute
        self.max_keys = max_keys
        self.evictions = 0
        self._seconds_per_request = PERIOD_SECONDS / per_minute
        self._buckets: OrderedDict[str, tuple[AsyncLimiter, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    async def check(self, key: str) -> RateDecision:
        """Take one request from ``key``'s bucket if it has room; never waits."""
        now = asyncio.get_running_loop().time()  # the clock aiolimiter itself reads
        self._drop_idle(now)
        entry = self._buckets.pop(key, None)
        limiter = entry[0] if entry else AsyncLimiter(self.per_minute, PERIOD_SECONDS)
        self._buckets[key] = (limiter, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
            self.evictions += 1
        allowed = limiter.has_capacity()
        if allowed:
            await limiter.acquire()  # returns at once: has_capacity() just said so
        # aiolimiter has no public accessor for the bucket level; has_capacity()
        # has just brought it up to date.
        level = float(limiter._level)
        return RateDecision(
            allowed=allowed,
            limit=self.per_minute,
            remaining=max(0, math.floor(self.per_minute - level)),
            reset_seconds=math.ceil(level * self._seconds_per_request),
            retry_after_seconds=max(
                1, math.ceil((level + 1 - self.per_minute) * self._seconds_per_request)
            ),
        )

    def _drop_idle(self, now: float) -> None:
        while self._buckets:
            _, (_, last_used) = next(iter(self._buckets.items()))
            if now - last_used < PERIOD_SECONDS:
                return
            self._buckets.popitem(last=False)
