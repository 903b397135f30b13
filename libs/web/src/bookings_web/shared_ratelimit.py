"""Rate limits shared by every replica: the same leaky buckets as
``bookings_web.ratelimit``, kept in Redis.

Each check runs one Lua script (atomic on the Redis server, one round trip):
GCRA, the Generic Cell Rate Algorithm (ITU-T I.371; the "virtual scheduling"
form), which is the leaky bucket stated as a time. Per key Redis keeps the
theoretical arrival time ``tat`` (ms, Redis's own clock, so replicas' clocks do
not matter); with the emission interval ``T = 60 000 / per_minute`` ms, a
request at ``now`` is allowed when ``max(tat, now) + T - now <= 60 000``, and
then ``tat`` moves on by ``T``. So a client may burst ``per_minute`` requests
and then gets one per ``T``: exactly what one replica's ``KeyedRateLimiter``
allows, now across all of them. A key expires when its bucket has leaked empty.

When Redis is unreachable (refused, or no answer within ``timeout_seconds``)
the check falls back to the local per-replica limiter and Redis is not asked
again for ``retry_seconds``: requests are never refused or slowed because the
limit store is down, at the price of per-replica limits meanwhile. One warning
is logged when that starts and one info line when Redis answers again.
"""

from __future__ import annotations

import math
import time
from typing import Final

from bookings_common.logging import get_logger
from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from .ratelimit import PERIOD_SECONDS, KeyedRateLimiter, RateDecision, RateLimiter

log = get_logger("bookings_web.ratelimit")

# KEYS[1]: the key's tat. ARGV[1]: T in ms (may be fractional); ARGV[2]: the limit.
# Returns {allowed (1 or 0), backlog in ms as a string}: backlog = tat - now after
# the request when allowed, before it when refused. Numbers go back as strings
# because Redis would truncate a Lua number to an integer.
GCRA_SCRIPT: Final = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local interval = tonumber(ARGV[1])
local period = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now <= period + 0.001 then
  redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now))
  return {1, string.format('%.3f', new_tat - now)}
end
return {0, string.format('%.3f', tat - now)}
"""


def limits_redis(url: str, *, timeout_seconds: float = 0.25, max_connections: int = 32) -> Redis:
    """A Redis client for limit checks: short timeouts and no retries, so an
    unreachable Redis costs one timeout before the fallback takes over. Checks
    beyond ``max_connections`` at once wait (up to the timeout) for a free
    connection rather than fail."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_seconds,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes both


class RedisOutage:
    """Whether a Redis that limits depend on is to be asked: after a failure, not
    for ``retry_seconds``. Logs ``<event>.unavailable`` (warning) once when an
    outage starts and ``<event>.recovered`` (info) when Redis answers again."""

    def __init__(self, event: str, fallback: str, *, retry_seconds: float = 5.0) -> None:
        self._event = event
        self._fallback = fallback
        self._retry_seconds = retry_seconds
        self._until = 0.0
        self.down = False

    def ask(self) -> bool:
        """True unless an outage started less than ``retry_seconds`` ago."""
        return not self.down or time.monotonic() >= self._until

    def failed(self, exc: BaseException) -> None:
        self._until = time.monotonic() + self._retry_seconds
        if not self.down:
            self.down = True
            log.warning(
                f"{self._event}.unavailable",
                error=str(exc) or type(exc).__name__,
                fallback=self._fallback,
                retry_seconds=self._retry_seconds,
            )

    def answered(self) -> None:
        if self.down:
            self.down = False
            log.info(f"{self._event}.recovered")


class RedisRateLimiter:
    """``per_minute`` requests per key across every replica sharing ``redis`` and
    ``prefix``; ``fallback`` (this replica's own buckets) while Redis is unreachable."""

    def __init__(
        self,
        redis: Redis,
        per_minute: int,
        *,
        prefix: str,
        fallback: KeyedRateLimiter | None = None,
        retry_seconds: float = 5.0,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be positive")
        self.per_minute = per_minute
        self.fallback = fallback or KeyedRateLimiter(per_minute)
        self._prefix = prefix
        self._interval_ms = PERIOD_SECONDS * 1000 / per_minute
        self._script = redis.register_script(GCRA_SCRIPT)
        self._outage = RedisOutage(
            "ratelimit.shared", "per-replica limits", retry_seconds=retry_seconds
        )

    @property
    def shared(self) -> bool:
        """False while the fallback is in use."""
        return not self._outage.down

    async def check(self, key: str) -> RateDecision:
        """Take one request from ``key``'s shared bucket if it has room; never waits
        longer than the Redis timeout, never raises for Redis being down."""
        if not self._outage.ask():
            return await self.fallback.check(key)
        try:
            allowed, backlog = await self._script(
                keys=[f"{self._prefix}:{key}"], args=[repr(self._interval_ms), self.per_minute]
            )
        except (RedisError, OSError) as exc:
            self._outage.failed(exc)
            return await self.fallback.check(key)
        self._outage.answered()
        return self._decision(bool(int(allowed)), float(backlog))

    def _decision(self, allowed: bool, backlog_ms: float) -> RateDecision:
        interval, period = self._interval_ms, self._interval_ms * self.per_minute
        return RateDecision(
            allowed=allowed,
            limit=self.per_minute,
            remaining=max(0, math.floor((period - backlog_ms) / interval + 1e-9)),
            reset_seconds=math.ceil(backlog_ms / 1000 - 1e-9),
            retry_after_seconds=max(1, math.ceil((backlog_ms + interval - period) / 1000)),
        )


def rate_limiter(
    redis: Redis | None, per_minute: int, *, prefix: str, max_keys: int = 100_000
) -> RateLimiter:
    """``per_minute`` per key: shared through ``redis`` under ``prefix`` (this
    replica's own buckets as the fallback), or only this replica's without it."""
    local = KeyedRateLimiter(per_minute, max_keys=max_keys)
    if redis is None:
        return local
    return RedisRateLimiter(redis, per_minute, prefix=prefix, fallback=local)
