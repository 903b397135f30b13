"""The per-user connection limit across every notifier replica, through Redis.

Each replica's ``Registry`` enforces ``MAX_CONNECTIONS_PER_USER`` among its own
connections; with N replicas behind a balancer a user could otherwise hold N
times that. Here every customer or provider connection also holds a *lease* in
Redis: a member of the sorted set ``<prefix>:connections:<role>:<owner id>``
whose score is the time (ms, Redis's clock) the lease runs out. Taking one is a
Lua script (atomic): drop the set's expired members, refuse when the rest number
the limit or more, else add this one. A closed connection gives its lease back;
a replica renews the leases of its open connections every third of
``lease_seconds``, so the leases of a replica that died without closing run out
within ``lease_seconds``.

When Redis is unreachable the replica's own limit still holds (per replica),
nothing is refused for Redis being down, one warning is logged, and leases are
taken again for connections opened once it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from typing import Final

from bookings_web.shared_ratelimit import RedisOutage
from redis.asyncio import Redis
from redis.exceptions import RedisError

from .connections import Connection, TooManyConnections

# Redis's own clock in ms, so replicas' clocks do not matter.
_NOW: Final = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""
# KEYS[1]: the owner's set. ARGV: member, limit, lease ms. Returns 1 (taken) or 0.
ACQUIRE_SCRIPT: Final = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""
)
# KEYS[1]: the owner's set. ARGV: member, lease ms. Renews (or, after a Redis
# restart lost it, restores) one lease.
RENEW_SCRIPT: Final = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
)


class ConnectionLeases:
    """At most ``max_per_user`` connections per customer or provider across the
    replicas sharing ``redis`` and ``prefix``. Public (anonymous) connections take
    no lease: they are limited per address by each replica."""

    def __init__(
        self,
        redis: Redis,
        *,
        max_per_user: int,
        prefix: str,
        lease_seconds: float = 60.0,
        retry_seconds: float = 5.0,
    ) -> None:
        self._redis = redis
        self._max = max_per_user
        self._prefix = f"{prefix}:connections"
        self._lease_ms = int(lease_seconds * 1000)
        self.renew_every = lease_seconds / 3
        self._acquire = redis.register_script(ACQUIRE_SCRIPT)
        self._renew = redis.register_script(RENEW_SCRIPT)
        self._replica = uuid.uuid4().hex[:12]
        self._numbers = itertools.count(1)
        # Open connections' leases: connection -> the number in its member's name (the
        # set's and the member's names are made again when needed: kept for thousands
        # of idle connections, they would cost each a few hundred bytes).
        self._held: dict[Connection, int] = {}
        self._releasing: set[asyncio.Task[None]] = set()
        self._outage = RedisOutage(
            "notifier.leases", "per-replica connection limit", retry_seconds=retry_seconds
        )

    def __len__(self) -> int:
        return len(self._held)

    async def acquire(self, connection: Connection) -> None:
        """Take a lease for ``connection``; raises ``TooManyConnections`` when its owner
        already holds ``max_per_user`` across the replicas. No-op for public ones."""
        if connection.principal is None or not self._outage.ask():
            return
        number = next(self._numbers)
        key, member = self._names(connection, number)
        try:
            taken = await self._acquire(keys=[key], args=[member, self._max, self._lease_ms])
        except (RedisError, OSError) as exc:
            self._outage.failed(exc)
            return
        self._outage.answered()
        if not int(taken):
            raise TooManyConnections(f"at most {self._max} connections per user")
        self._held[connection] = number

    def _names(self, connection: Connection, number: int) -> tuple[str, str]:
        """The owner's sorted set and the lease's member in it."""
        role, owner = connection.key
        return f"{self._prefix}:{role}:{owner}", f"{self._replica}:{number}"

    def release(self, connection: Connection) -> asyncio.Task[None] | None:
        """Give ``connection``'s lease back (idempotent). The ``ZREM`` runs in a task
        of its own: connection handlers call this while aiohttp may be cancelling
        them (the client went away), and a lease must not outlive its connection
        for that. Returns the task (None when there was no lease); a Redis error
        leaves the lease to run out."""
        number = self._held.pop(connection, None)
        if number is None:
            return None
        task = asyncio.create_task(self._remove(*self._names(connection, number)))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)
        return task

    async def _remove(self, key: str, member: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.zrem(key, member)

    async def renew_forever(self) -> None:
        """Renew every held lease each ``renew_every`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self.renew_every)
            await self.renew()

    async def renew(self) -> None:
        """Renew every held lease now, in one pipeline."""
        held = [self._names(connection, number) for connection, number in self._held.items()]
        if not held:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, member in held:
                    await self._renew(keys=[key], args=[member, self._lease_ms], client=pipe)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._outage.failed(exc)
            return
        self._outage.answered()
