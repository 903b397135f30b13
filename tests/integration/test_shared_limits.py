"""Limits that hold across replicas: the per-user REST rate limit (GCRA in Redis) on
two gateway processes, the per-user connection limit (Redis leases) on two notifier
processes, and the per-replica fallback while Redis is unreachable."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bookings_proto.bookings import v1 as pb
from bookings_web.auth import Principal, Role
from bookings_web.ratelimit import KeyedRateLimiter
from bookings_web.shared_ratelimit import RedisRateLimiter, limits_redis
from gateway.app import create_app as create_gateway
from notifier.connections import Connection, TooManyConnections, Transport
from notifier.leases import ConnectionLeases
from notifier.metrics import NotifierMetrics
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from .conftest import REDIS_URL, gateway_settings
from .harness import (
    CoreProcess,
    GatewayProcess,
    NotifierProcess,
    TcpProxy,
    eventually,
    free_port,
    make_token,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis() -> Any:
    client = limits_redis(REDIS_URL)
    yield client
    await client.aclose()


def fresh_prefix() -> str:
    return f"test-limits:{uuid.uuid4().hex[:12]}"


async def test_the_shared_bucket_answers_as_one_replica_would(redis: Redis) -> None:
    shared = RedisRateLimiter(redis, 5, prefix=fresh_prefix())
    local = KeyedRateLimiter(5)
    for _ in range(6):
        assert await shared.check("user:a") == await local.check("user:a")
    refused = await shared.check("user:a")
    assert not refused.allowed and refused.remaining == 0
    assert refused.retry_after_seconds == 12  # one request leaks every 60 / 5 s
    assert refused.headers()["Retry-After"] == "12"
    assert (await shared.check("user:b")).allowed  # keys do not share a bucket
    assert shared.shared


async def test_concurrent_checks_never_admit_more_than_the_limit() -> None:
    # What is tested is the script's atomicity, not the fallback: a patient client,
    # so that 200 checks queueing for 32 connections on a busy machine never time
    # out into the replicas' own buckets.
    redis = limits_redis(REDIS_URL, timeout_seconds=10)
    try:
        replicas = [RedisRateLimiter(redis, 60, prefix=(prefix := fresh_prefix()))]
        replicas.append(RedisRateLimiter(redis, 60, prefix=prefix))
        decisions = await asyncio.gather(*(replicas[i % 2].check("user:x") for i in range(200)))
        assert all(replica.shared for replica in replicas)
        assert sum(d.allowed for d in decisions) == 60
    finally:
        await redis.aclose()


async def test_two_gateway_replicas_share_one_users_limit(
    core: CoreProcess, customer: pb.Customer, tmp_path: Path
) -> None:
    common = {"RATE_LIMIT_PER_MINUTE": "60", "LIMITS_KEY_PREFIX": fresh_prefix()}
    replicas = [
        GatewayProcess(core.port, tmp_path / f"gateway-{name}.log", **common) for name in "ab"
    ]
    await asyncio.gather(*(replica.start() for replica in replicas))
    headers = {"Authorization": f"Bearer {make_token('customer', customer.id)}"}
    try:
        statuses = []
        async with aiohttp.ClientSession() as session:
            for number in range(61):  # round-robin, as a balancer sends them
                url = f"{replicas[number % 2].url}/bookings"
                async with session.get(url, headers=headers) as response:
                    statuses.append(response.status)
                    last = response
                    body = await response.text()
        assert statuses.count(429) == 1 and statuses[-1] == 429, statuses
        assert set(statuses[:-1]) == {200}
        assert json.loads(body)["code"] == "RATE_LIMITED"
        assert last.headers["RateLimit-Limit"] == "60" and int(last.headers["Retry-After"]) >= 1
        # Another user has a bucket of their own, on either replica.
        other = {"Authorization": f"Bearer {make_token('customer', str(uuid.uuid4()))}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{replicas[1].url}/bookings", headers=other) as response,
        ):
            assert response.status == 200
    finally:
        for replica in replicas:
            replica.stop()


async def test_with_redis_unreachable_each_replica_limits_on_its_own(
    core: CoreProcess, customer: pb.Customer, aiohttp_client: Any, capsys: Any
) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    client = await aiohttp_client(
        create_gateway(gateway_settings(core, rate_limit_per_minute=5, limits_redis_url=dead_redis))
    )
    headers = {"Authorization": f"Bearer {make_token('customer', customer.id)}"}
    capsys.readouterr()
    statuses = [(await client.get("/bookings", headers=headers)).status for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    logged = capsys.readouterr().out
    assert logged.count("ratelimit.shared.unavailable") == 1  # once per outage
    assert "Traceback" not in logged


async def test_redis_coming_back_restores_the_shared_limit() -> None:
    proxy = TcpProxy("127.0.0.1", 6379)
    await proxy.start()
    client = limits_redis(f"redis://127.0.0.1:{proxy.port}/15")
    limiter = RedisRateLimiter(client, 2, prefix=fresh_prefix(), retry_seconds=0.0)
    try:
        assert (await limiter.check("user:a")).allowed and limiter.shared
        await proxy.cut()
        assert (await limiter.check("user:a")).allowed  # the local bucket's first
        assert not limiter.shared
        await proxy.restore()
        shared_again = await eventually(lambda: _shared_check(limiter), timeout=5)
        # The shared bucket still holds the first request: one left, then refused.
        assert shared_again.remaining == 0
        assert not (await limiter.check("user:a")).allowed
    finally:
        await client.aclose()
        await proxy.cut()


async def _shared_check(limiter: RedisRateLimiter) -> Any:
    decision = await limiter.check("user:a")
    return decision if limiter.shared else None


async def test_two_notifier_replicas_share_one_users_connection_limit(
    core: CoreProcess, customer: pb.Customer, tmp_path: Path
) -> None:
    common = {"MAX_CONNECTIONS_PER_USER": "2", "LIMITS_KEY_PREFIX": fresh_prefix()}
    a, b = (
        NotifierProcess(core.port, REDIS_URL, tmp_path / f"notifier-{name}.log", **common)
        for name in "ab"
    )
    await asyncio.gather(a.start(), b.start())
    headers = {"Authorization": f"Bearer {make_token('customer', customer.id)}"}
    try:
        async with aiohttp.ClientSession() as session:
            first = await session.ws_connect(f"{a.url}/ws", headers=headers)
            second = await session.get(f"{b.url}/events", headers=headers)
            assert second.status == 200
            # Each replica holds one of this user's connections: the third is refused
            # on both, though neither has reached the limit on its own.
            for replica in (a, b):
                async with session.get(f"{replica.url}/events", headers=headers) as refused:
                    assert refused.status == 429
                    assert (await refused.json())["code"] == "TOO_MANY_CONNECTIONS"
            await first.close()

            async def reconnects_on_b() -> bool:
                async with session.get(f"{b.url}/events", headers=headers) as again:
                    return again.status == 200

            assert await eventually(reconnects_on_b, timeout=5)
            second.close()
    finally:
        a.stop()
        b.stop()


def _connection(customer_id: str) -> Connection:
    principal = Principal(f"customer:{customer_id}", Role.CUSTOMER, customer_id=customer_id)
    return Connection(
        principal,
        Transport.SSE,
        NotifierMetrics(CollectorRegistry()),
        queue_size=1,
        send_timeout=1,
    )


async def test_a_dead_replicas_leases_run_out_and_live_ones_are_renewed(redis: Redis) -> None:
    prefix, owner = fresh_prefix(), str(uuid.uuid4())
    alive, dead, other = (
        ConnectionLeases(redis, max_per_user=2, prefix=prefix, lease_seconds=3.0) for _ in range(3)
    )
    await alive.acquire(first := _connection(owner))
    await dead.acquire(_connection(owner))
    with pytest.raises(TooManyConnections):
        await other.acquire(_connection(owner))
    # "dead" stops renewing (its process is gone); "alive" keeps renewing.
    # Renewals 1 s apart leave 2 s of slack on a loaded machine; the dead one's
    # lease runs out after 3 s.
    for _ in range(4):
        await asyncio.sleep(1.0)
        await alive.renew()
    await other.acquire(_connection(owner))  # the dead replica's lease ran out
    with pytest.raises(TooManyConnections):  # the renewed one did not
        await other.acquire(_connection(owner))
    released = alive.release(first)
    assert released is not None
    await released
    await other.acquire(_connection(owner))
    assert len(other) == 2 and len(alive) == 0
