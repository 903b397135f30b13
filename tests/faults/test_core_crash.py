"""booking-core SIGKILLed while 500 creates are in flight through the gateway, then
restarted on the same port; the gateway process stays up throughout."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from bookings_common.events import BOOKING_CREATED
from bookings_common.grpc import create_channel
from bookings_proto.bookings import v1 as pb

from tests.integration.harness import (
    INTERNAL_TOKEN,
    CoreProcess,
    GatewayProcess,
    RedisProcess,
    eventually,
    make_token,
)

from .conftest import Directory, EventTap, fetch, fetchval, tail

pytestmark = pytest.mark.faults

REQUESTS = 500
PROVIDERS = 5
CUSTOMERS = 20
# The gateway's deadline on each booking-core call (CORE_DEADLINE_SECONDS).
DEADLINE_SECONDS = 2.0
# What a request may take beyond the deadline: the gateway's own work on 500 requests
# at once, on two cores, and the test client's.
MARGIN_SECONDS = 4.0
KILL_AFTER_COMMITTED = 25
OUTAGE_SECONDS = 1.5
RETRY_CONCURRENCY = 10
RETRY_ATTEMPTS = 5
# How long booking-core stays stalled once the whole burst is inside the gateway.
STALL_SECONDS = 0.5
# How late the test client may notice an answer the gateway sent before the kill.
CLOCK_SLACK_SECONDS = 0.25
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange as the client saw it; times are ``time.monotonic()``."""

    status: int
    sent_at: float
    answered_at: float
    content_type: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def elapsed(self) -> float:
        return self.answered_at - self.sent_at


@dataclass(frozen=True)
class CreateRequest:
    """One ``POST /bookings`` of a customer, with its own idempotency key."""

    token: str
    body: dict[str, str]
    key: str


async def send(
    session: aiohttp.ClientSession, method: str, url: str, token: str, **kwargs: Any
) -> Reply:
    """One request, no retry; records status, timing and the decoded JSON body."""
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    sent_at = time.monotonic()
    async with session.request(method, url, headers=headers, **kwargs) as response:
        text = await response.text()
        return Reply(
            response.status,
            sent_at,
            time.monotonic(),
            response.content_type,
            dict(response.headers),
            json.loads(text) if text else {},
        )


async def post_booking(
    session: aiohttp.ClientSession, gateway: GatewayProcess, request: CreateRequest
) -> Reply:
    return await send(
        session,
        "POST",
        f"{gateway.url}/bookings",
        request.token,
        json=request.body,
        headers={"Idempotency-Key": request.key},
    )


def assert_problem(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply
    assert reply.content_type == PROBLEM, reply
    assert reply.body["code"] == code and reply.body["status"] == status, reply


@dataclass
class Stack:
    database_url: str
    redis: RedisProcess
    core: CoreProcess
    gateway: GatewayProcess
    directory: Directory
    session: aiohttp.ClientSession

    async def kill_core(self) -> float:
        """SIGKILL booking-core, reap it; return when (monotonic) it died."""
        assert self.core.process is not None
        os.kill(self.core.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        assert await asyncio.to_thread(self.core.wait_exit, 10) == -signal.SIGKILL
        return killed_at

    async def open_connections(self, count: int, token: str) -> None:
        """Open ``count`` keep-alive connections to the gateway (its listen backlog is 128,
        and a dropped SYN would add seconds of retransmission to a timed request) and
        one gateway-to-booking-core channel (a fresh one is another test's subject)."""

        async def health() -> None:
            async with self.session.get(f"{self.gateway.url}/health") as response:
                assert response.status == 200

        await asyncio.gather(*(health() for _ in range(count)))
        listed = await send(self.session, "GET", f"{self.gateway.url}/bookings", token)
        assert listed.status == 200, listed


@pytest.fixture
async def stack(database_url: str, redis: RedisProcess, tmp_path: Path) -> AsyncIterator[Stack]:
    core = CoreProcess(database_url, redis.url, tmp_path / "core.log")
    await core.start()
    gateway = GatewayProcess(
        core.port,
        tmp_path / "gateway.log",
        CORE_DEADLINE_SECONDS=str(DEADLINE_SECONDS),
        RATE_LIMIT_PER_MINUTE="1000000",
    )
    await gateway.start()
    channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=120)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))
    try:
        yield Stack(
            database_url,
            redis,
            core,
            gateway,
            Directory(pb.BookingServiceStub(channel, timeout=10)),
            session,
        )
    finally:
        await session.close()
        channel.close()
        gateway.terminate()
        if core.process is not None and core.process.poll() is None:
            core.terminate()


async def create_requests(stack: Stack, count: int) -> list[CreateRequest]:
    """``count`` creates by ``CUSTOMERS`` customers with ``PROVIDERS`` providers, each in
    an hour of its own, so none overlaps another."""
    providers = [await stack.directory.provider() for _ in range(PROVIDERS)]
    customers = [await stack.directory.customer() for _ in range(CUSTOMERS)]
    tokens = {customer: make_token("customer", customer) for customer in customers}
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    requests = []
    for n in range(count):
        customer, start = customers[n % CUSTOMERS], first + timedelta(hours=n)
        body = {
            "providerId": providers[n % PROVIDERS],
            "customerId": customer,
            "startTime": start.isoformat(),
            "endTime": (start + timedelta(minutes=30)).isoformat(),
        }
        requests.append(CreateRequest(tokens[customer], body, f"fault-{uuid.uuid4()}"))
    return requests


@pytest.mark.timeout(180)
async def test_core_sigkill_during_500_concurrent_creates_loses_nothing_committed(
    stack: Stack,
) -> None:
    """Proves: a create the gateway answered 201 is durable; a booking never exists without
    its booking.created event and its reminder (one transaction); while booking-core is
    dead the gateway answers 503 UPSTREAM_UNAVAILABLE (504 UPSTREAM_TIMEOUT only once its
    deadline has passed) and never hangs past that deadline; the same gateway process
    reaches the restarted booking-core by itself; the restarted core's outbox relay
    publishes every event the killed one committed but had not published; and a client
    retrying its unanswered creates with the same idempotency key ends with exactly one
    booking per request (the ones committed just before the kill are replayed, not
    doubled)."""
    requests = await create_requests(stack, REQUESTS + 2)
    burst, down_probe, after_restart = requests[:REQUESTS], requests[-2], requests[-1]
    await stack.open_connections(REQUESTS, burst[0].token)

    async with EventTap(stack.redis.url) as tap:
        replies: dict[int, Reply] = {}

        async def create(n: int) -> None:
            replies[n] = await post_booking(stack.session, stack.gateway, burst[n])

        watcher = await asyncpg.connect(stack.database_url)
        try:
            first_sent = time.monotonic()
            in_flight = [asyncio.create_task(create(n)) for n in range(REQUESTS)]

            async def enough_committed() -> bool:
                committed = await watcher.fetchval("SELECT count(*) FROM bookings")
                return bool(committed >= KILL_AFTER_COMMITTED)

            await eventually(enough_committed, timeout=60, interval=0.01)
        finally:
            await watcher.close()
        killed_at = await stack.kill_core()
        answered_before_kill = sum(r.answered_at < killed_at for r in replies.values())

        # While booking-core is dead a create is refused at once, as problem+json.
        down = await post_booking(stack.session, stack.gateway, down_probe)
        assert_problem(down, 503, "UPSTREAM_UNAVAILABLE")
        assert down.headers["Retry-After"] == "1"
        assert down.elapsed < DEADLINE_SECONDS

        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - killed_at)))
        await stack.core.start()  # the same object, so the same GRPC_PORT
        ready_at = time.monotonic()
        await asyncio.gather(*in_flight)

        # The same gateway process, never restarted, reaches the new booking-core.
        after = await post_booking(stack.session, stack.gateway, after_restart)
        assert after.status == 201, (after, tail(stack.gateway.log_path))

        # Every 201 is durable.
        created = {r.body["bookingId"] for r in replies.values() if r.status == 201}
        created.add(after.body["bookingId"])
        stored = await fetch(
            stack.database_url,
            "SELECT id FROM bookings WHERE id = ANY($1::uuid[])",
            [uuid.UUID(b) for b in created],
        )
        assert {str(row["id"]) for row in stored} == created
        # The refused probe left nothing behind.
        probe_rows = await fetchval(
            stack.database_url,
            "SELECT count(*) FROM bookings WHERE idempotency_key = $1",
            down_probe.key,
        )
        assert probe_rows == 0
        await assert_each_booking_has_its_event_and_reminder(stack.database_url)
        committed = await fetchval(stack.database_url, "SELECT count(*) FROM bookings")
        print(f"{committed} bookings committed, {len(created)} answered 201")

        # The restarted core's relay publishes what the killed one had not.
        async def all_published() -> bool:
            unpublished = await fetchval(
                stack.database_url, "SELECT count(*) FROM events WHERE published_at IS NULL"
            )
            return bool(unpublished == 0)

        await eventually(all_published, timeout=30, interval=0.2)
        logged = {
            row["id"]
            for row in await fetch(
                stack.database_url, "SELECT id FROM events WHERE type = $1", BOOKING_CREATED
            )
        }
        assert len(logged) == committed

        async def all_on_the_wire() -> bool:
            return logged <= set(tap.ids(BOOKING_CREATED))

        await eventually(all_on_the_wire, timeout=10)

    # A client retries each unanswered create with its idempotency key until it gets a
    # definitive answer: a create that had committed before the kill is replayed (200),
    # the others are made now (201). booking-core is up: no 503 any more.
    committed_keys = {
        row["idempotency_key"]
        for row in await fetch(stack.database_url, "SELECT idempotency_key FROM bookings")
    }
    limit = asyncio.Semaphore(RETRY_CONCURRENCY)

    async def settle(n: int) -> tuple[int, list[Reply]]:
        attempts: list[Reply] = []
        while len(attempts) < RETRY_ATTEMPTS and (not attempts or attempts[-1].status == 504):
            async with limit:
                attempts.append(await post_booking(stack.session, stack.gateway, burst[n]))
        return n, attempts

    unanswered = [n for n, reply in replies.items() if reply.status != 201]
    retried = dict(await asyncio.gather(*(settle(n) for n in unanswered)))
    attempt_statuses = Counter(a.status for attempts in retried.values() for a in attempts)
    print(f"retries: {dict(attempt_statuses)}")
    assert set(attempt_statuses) <= {200, 201, 504}, attempt_statuses
    for n, attempts in retried.items():
        final = attempts[-1]
        assert final.status in (200, 201), attempts
        assert (final.status == 200) == (final.headers.get("Idempotent-Replayed") == "true")
        if len(attempts) == 1:  # no earlier attempt of ours may have committed it
            assert (final.status == 200) == (burst[n].key in committed_keys), attempts
    rows = await fetch(
        stack.database_url,
        "SELECT idempotency_key, count(*) AS n FROM bookings GROUP BY idempotency_key",
    )
    assert {row["idempotency_key"]: row["n"] for row in rows} == {
        request.key: 1 for request in [*burst, after_restart]
    }
    await assert_each_booking_has_its_event_and_reminder(stack.database_url)

    # Last, so that everything above is checked either way: what each response said.
    statuses = Counter(r.status for r in replies.values())
    assert len(replies) == REQUESTS
    assert REQUESTS - answered_before_kill >= 100, f"too few in flight: {statuses}"
    assert statuses[503] >= 1, statuses
    wrong = Counter(
        f"{reply.status}: {problem}"
        for reply in replies.values()
        if (problem := misclassified(reply, killed_at=killed_at, ready_at=ready_at))
    )
    slowest = max(r.elapsed for r in replies.values())
    print(f"statuses {dict(statuses)}, slowest {slowest:.2f}s, wrong {dict(wrong)}")
    assert not wrong, (
        f"statuses {dict(statuses)}, {answered_before_kill} answered before the kill at"
        f" +{killed_at - first_sent:.2f}s, core ready again at +{ready_at - first_sent:.2f}s,"
        f" slowest {slowest:.2f}s; misclassified: {dict(wrong)}"
    )


def misclassified(reply: Reply, *, killed_at: float, ready_at: float) -> str | None:
    """Why ``reply`` is not what the gateway should have answered, or None.

    The gateway's contract (gateway.upstream): booking-core unreachable or the connection
    lost is 503 UPSTREAM_UNAVAILABLE with Retry-After, at once; 504 UPSTREAM_TIMEOUT is for
    a booking-core that is up but does not answer within CORE_DEADLINE_SECONDS. So a 503
    belongs between the kill and the restart, and a 504 to a request whose deadline ran
    out while booking-core was still alive (every call pending at the kill fails then).
    """
    if reply.elapsed >= DEADLINE_SECONDS + MARGIN_SECONDS:
        return f"took {reply.elapsed:.1f}s, past the deadline"
    if reply.status == 201:
        if reply.headers.get("Location") != f"/bookings/{reply.body.get('bookingId')}":
            return "no Location"
        return None
    if reply.status == 503:
        if reply.content_type != PROBLEM or reply.body.get("code") != "UPSTREAM_UNAVAILABLE":
            return "not an UPSTREAM_UNAVAILABLE problem"
        if reply.headers.get("Retry-After") != "1":
            return "no Retry-After"
        if not killed_at <= reply.answered_at <= ready_at:
            return "booking-core was up"
        return None
    if reply.status == 504:
        if reply.content_type != PROBLEM or reply.body.get("code") != "UPSTREAM_TIMEOUT":
            return "not an UPSTREAM_TIMEOUT problem"
        if reply.elapsed < DEADLINE_SECONDS:
            return "before the deadline"
        if reply.sent_at + DEADLINE_SECONDS > killed_at + CLOCK_SLACK_SECONDS:
            return "booking-core died within its deadline (should be 503 at the kill)"
        return None
    return "unexpected status"


async def assert_each_booking_has_its_event_and_reminder(database_url: str) -> None:
    """No booking without its booking.created event or its reminder, none with two events."""
    orphans = await fetch(
        database_url,
        """SELECT b.id FROM bookings b
           WHERE NOT EXISTS (SELECT 1 FROM events e
                             WHERE e.booking_id = b.id AND e.type = 'booking.created')
              OR NOT EXISTS (SELECT 1 FROM reminders r WHERE r.booking_id = b.id)""",
    )
    assert orphans == []
    doubled = await fetch(
        database_url,
        "SELECT booking_id FROM events WHERE type = 'booking.created'"
        " GROUP BY booking_id HAVING count(*) > 1",
    )
    assert doubled == []


@pytest.mark.timeout(120)
async def test_a_burst_on_the_gateways_new_connection_after_a_core_restart_is_served(
    stack: Stack,
) -> None:
    """Proves: when booking-core comes back after a crash, and the clients that got 503
    return at once while it is still briefly stalled (SIGSTOP until the whole burst is in
    the gateway, then STALL_SECONDS more, as a CPU-starved process would be; well within
    the gateway's deadline), the gateway's new HTTP/2 connection serves that burst once
    booking-core runs again: booking-core is up, so no request is answered 503, and a 504
    only after the full deadline."""
    requests = await create_requests(stack, REQUESTS)
    await stack.open_connections(REQUESTS, requests[0].token)
    await stack.kill_core()
    refused = await post_booking(stack.session, stack.gateway, requests[0])
    assert_problem(refused, 503, "UPSTREAM_UNAVAILABLE")
    await stack.core.start()
    assert stack.core.process is not None
    pid = stack.core.process.pid

    async def waiting_on_core() -> bool:
        async with stack.session.get(f"{stack.gateway.url}/metrics") as response:
            text = await response.text()
        gauge = 'http_requests_in_progress{method="POST",route="/bookings"} '
        line = next((x for x in text.splitlines() if x.startswith(gauge)), gauge + "0")
        return float(line.rsplit(" ", 1)[1]) >= REQUESTS

    os.kill(pid, signal.SIGSTOP)
    try:
        burst = [
            asyncio.create_task(post_booking(stack.session, stack.gateway, request))
            for request in requests
        ]
        await eventually(waiting_on_core, timeout=10, interval=0.02)
        await asyncio.sleep(STALL_SECONDS)  # the fault: booking-core stays stalled this long
    finally:
        os.kill(pid, signal.SIGCONT)
    replies = await asyncio.gather(*burst)

    statuses = Counter(reply.status for reply in replies)
    early = [r for r in replies if r.status == 504 and r.elapsed < DEADLINE_SECONDS]
    lost = stack.gateway.log_path.read_text().count("StreamTerminatedError('Connection lost')")
    evidence = (
        f"statuses {dict(statuses)}; the gateway logged {lost} calls whose HTTP/2 connection"
        " to booking-core was torn down (StreamTerminatedError('Connection lost'))"
    )
    print(evidence)
    assert set(statuses) <= {201, 504}, evidence
    assert early == [], evidence
    (last,) = await create_requests(stack, 1)
    after = await post_booking(stack.session, stack.gateway, last)
    assert after.status == 201, after
