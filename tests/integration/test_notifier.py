"""The notifier end to end: two real replicas (``python -m notifier``) in front of a
real booking-core on PostgreSQL and a private Redis this module may stop, driven by
real WebSocket and SSE clients."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from bookings_common.events import CHANNEL, EventEnvelope
from bookings_common.grpc import create_channel
from bookings_proto.bookings import v1 as pb
from redis.asyncio import Redis

from .conftest import SERVICE, fresh_database
from .harness import (
    INTERNAL_TOKEN,
    CoreProcess,
    NotifierProcess,
    RedisProcess,
    SseStream,
    TcpProxy,
    eventually,
    free_port,
    make_token,
)

pytestmark = pytest.mark.integration

SEND_QUEUE_SIZE = 32


@dataclass
class Stack:
    redis: RedisProcess
    proxy: TcpProxy  # replica A reaches Redis through it; booking-core does not
    core: CoreProcess
    a: NotifierProcess
    b: NotifierProcess
    stub: pb.BookingServiceStub
    session: aiohttp.ClientSession
    log_dir: Path
    browser_origin: str
    first_slot: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(days=30))
    slots: itertools.count[int] = field(default_factory=itertools.count)

    async def provider(self) -> str:
        reply = await self.stub.register_provider(
            pb.RegisterProviderRequest(actor=SERVICE, name="Notified Provider")
        )
        assert reply.provider is not None
        return reply.provider.id

    async def customer(self) -> str:
        reply = await self.stub.register_customer(
            pb.RegisterCustomerRequest(
                actor=SERVICE, name="Notified", email=f"{uuid.uuid4().hex}@example.com"
            )
        )
        assert reply.customer is not None
        return reply.customer.id

    async def book(self, provider_id: str, customer_id: str) -> str:
        """A booking in its own 20-minute slot, far enough ahead that no reminder fires."""
        start = self.first_slot + timedelta(minutes=20 * next(self.slots))
        reply = await self.stub.create_booking(
            pb.CreateBookingRequest(
                actor=pb.Actor(customer_id=customer_id),
                provider_id=provider_id,
                customer_id=customer_id,
                start_time=start,
                end_time=start + timedelta(minutes=15),
            )
        )
        assert reply.booking is not None
        return reply.booking.id

    async def cancel(self, customer_id: str, booking_id: str) -> None:
        await self.stub.cancel_booking(
            pb.CancelBookingRequest(actor=pb.Actor(customer_id=customer_id), booking_id=booking_id)
        )

    async def metric(self, replica: NotifierProcess, name: str) -> float:
        """The sum of a metric's samples on ``replica`` (all label values)."""
        async with self.session.get(f"{replica.url}/metrics") as response:
            text = await response.text()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name)] in " {":
                total += float(line.rsplit(" ", 1)[1])
        return total


def bearer(role: str, owner_id: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(role, owner_id, **claims)}"}


@dataclass
class Watcher:
    """Collects the envelopes one WebSocket or SSE connection receives."""

    transport: str
    events: list[dict[str, Any]] = field(default_factory=list)
    sse_ids: list[str | None] = field(default_factory=list)
    sse_types: list[str | None] = field(default_factory=list)
    ws: aiohttp.ClientWebSocketResponse | None = None
    response: aiohttp.ClientResponse | None = None
    task: asyncio.Task[None] | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ids(self) -> list[int]:
        return [int(e["id"]) for e in self.events]

    async def wait_for(
        self,
        count: int,
        *,
        timeout: float = 10,  # noqa: ASYNC109 - the deadline of the poll itself
    ) -> list[dict[str, Any]]:
        """Wait until at least ``count`` events arrived; return them all."""

        async def enough() -> bool:
            return len(self.events) >= count

        await eventually(enough, timeout=timeout)
        return self.events

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.response is not None:
            self.response.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def watch_ws(
    session: aiohttp.ClientSession,
    replica: NotifierProcess,
    headers: dict[str, str],
    **params: str,
) -> Watcher:
    watcher = Watcher("websocket")
    watcher.ws = await session.ws_connect(
        f"{replica.url}/ws", headers=headers, params=params, autoping=True
    )

    async def read() -> None:
        assert watcher.ws is not None
        try:
            async for message in watcher.ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    watcher.events.append(json.loads(message.data))
        finally:
            watcher.ended.set()

    watcher.task = asyncio.create_task(read())
    return watcher


async def watch_sse(
    session: aiohttp.ClientSession, replica: NotifierProcess, headers: dict[str, str]
) -> Watcher:
    watcher = Watcher("sse")
    watcher.response = await session.get(f"{replica.url}/events", headers=headers)
    assert watcher.response.status == 200, await watcher.response.text()
    assert watcher.response.headers["Content-Type"].startswith("text/event-stream")
    stream = SseStream(watcher.response)

    async def read() -> None:
        try:
            while True:
                event_id, event_type, data = await stream.next_event()
                envelope = json.loads(data)
                watcher.sse_ids.append(event_id)
                watcher.sse_types.append(event_type)
                watcher.events.append(envelope)
        except (EOFError, aiohttp.ClientError):
            pass
        finally:
            watcher.ended.set()

    watcher.task = asyncio.create_task(read())
    return watcher


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    log_dir = tmp_path_factory.mktemp("notifier")
    async with fresh_database() as database_url:
        redis = RedisProcess(log_dir)
        redis.start()
        proxy = TcpProxy("127.0.0.1", redis.port)
        await proxy.start()
        core = CoreProcess(database_url, redis.url, log_dir / "core.log")
        await core.start()
        # The browser test serves its page from this origin.
        browser_origin = f"http://127.0.0.1:{free_port()}"
        common = {
            "CORS_ALLOWED_ORIGINS": browser_origin,
            "SEND_QUEUE_SIZE": str(SEND_QUEUE_SIZE),
            "SEND_TIMEOUT_SECONDS": "3",
            "HEARTBEAT_SECONDS": "5",
            # Open connections close at exp + leeway (the token-expiry test).
            "JWT_LEEWAY_SECONDS": "1",
            # The bad-token tests are many; test_bad_traffic checks this limit.
            "AUTH_FAILURE_RATE_LIMIT_PER_MINUTE": "1000",
        }
        a = NotifierProcess(
            core.port, f"redis://127.0.0.1:{proxy.port}/0", log_dir / "notifier-a.log", **common
        )
        b = NotifierProcess(core.port, redis.url, log_dir / "notifier-b.log", **common)
        await asyncio.gather(a.start(), b.start())
        channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
        session = aiohttp.ClientSession()
        try:
            yield Stack(
                redis,
                proxy,
                core,
                a,
                b,
                pb.BookingServiceStub(channel, timeout=10),
                session,
                log_dir,
                browser_origin,
            )
        finally:
            await session.close()
            channel.close()
            for process in (a, b, core):
                process.terminate()
            await proxy.cut()
            redis.stop()


# --- fan-out ----------------------------------------------------------------------------


async def test_each_event_reaches_its_customer_and_provider_on_any_replica_and_no_one_else(
    stack: Stack,
) -> None:
    provider, customer, stranger = await stack.provider(), await stack.customer(), None
    stranger = await stack.customer()
    customer_ws = await watch_ws(stack.session, stack.a, bearer("customer", customer))
    provider_sse = await watch_sse(stack.session, stack.b, bearer("provider", provider))
    stranger_a = await watch_ws(stack.session, stack.a, bearer("customer", stranger))
    stranger_b = await watch_sse(stack.session, stack.b, bearer("customer", stranger))
    try:
        booking = await stack.book(provider, customer)

        (seen_by_customer,) = await customer_ws.wait_for(1)
        (seen_by_provider,) = await provider_sse.wait_for(1)
        assert seen_by_customer == seen_by_provider
        assert seen_by_customer["type"] == "booking.created"
        assert seen_by_customer["data"]["bookingId"] == booking
        assert seen_by_customer["data"]["customerId"] == customer
        assert set(seen_by_customer) == {"id", "type", "occurredAt", "data"}
        # SSE framing: id is the event id, event the type, data the envelope.
        assert provider_sse.sse_ids == [seen_by_provider["id"]]
        assert provider_sse.sse_types == ["booking.created"]

        # The stranger's first event on each replica is its own booking, not the other one.
        own = await stack.book(provider, stranger)
        for watcher in (stranger_a, stranger_b):
            events = await watcher.wait_for(1)
            assert [e["data"]["bookingId"] for e in events] == [own]
        await provider_sse.wait_for(2)
        assert len(customer_ws.events) == 1
    finally:
        for watcher in (customer_ws, provider_sse, stranger_a, stranger_b):
            await watcher.close()


async def test_websocket_ping_gets_pong(stack: Stack) -> None:
    customer = await stack.customer()
    async with stack.session.ws_connect(
        f"{stack.a.url}/ws", headers=bearer("customer", customer)
    ) as ws:
        await ws.send_str('{"type":"ping"}')
        message = await ws.receive(timeout=5)
        assert json.loads(message.data) == {"type": "pong"}


# --- replay -----------------------------------------------------------------------------


async def test_reconnecting_with_the_last_id_replays_missed_events_in_order_then_live(
    stack: Stack,
) -> None:
    provider, customer = await stack.provider(), await stack.customer()
    first = await watch_ws(stack.session, stack.a, bearer("customer", customer))
    await stack.book(provider, customer)
    (seen,) = await first.wait_for(1)
    await first.close()

    # While disconnected: two bookings, one cancelled.
    second = await stack.book(provider, customer)
    third = await stack.book(provider, customer)
    await stack.cancel(customer, second)

    expected = [
        ("booking.created", second),
        ("booking.created", third),
        ("booking.cancelled", second),
    ]
    for transport in ("websocket", "sse"):
        if transport == "websocket":
            again = await watch_ws(
                stack.session, stack.a, bearer("customer", customer), lastEventId=seen["id"]
            )
        else:
            again = await watch_sse(
                stack.session,
                stack.b,
                {**bearer("customer", customer), "Last-Event-ID": seen["id"]},
            )
        try:
            missed = await again.wait_for(len(expected))
            assert [(e["type"], e["data"]["bookingId"]) for e in missed] == expected
            assert min(again.ids) > int(seen["id"])
            live = await stack.book(provider, customer)
            expected.append(("booking.created", live))
            events = await again.wait_for(len(expected))
            assert [(e["type"], e["data"]["bookingId"]) for e in events] == expected
            assert again.ids == sorted(set(again.ids))
        finally:
            await again.close()
    assert await stack.metric(stack.a, "notifier_replays_total") >= 1
    assert await stack.metric(stack.b, "notifier_replayed_events_total") >= 3


async def test_resuming_while_bookings_are_being_made_has_no_gap_and_no_duplicate(
    stack: Stack,
) -> None:
    """The replay/live seam under load: bookings keep committing while the client
    reconnects, and it sees each of its events after N exactly once, in order."""
    provider, customer = await stack.provider(), await stack.customer()
    await stack.book(provider, customer)
    (after,) = (
        await stack.stub.list_events(
            pb.ListEventsRequest(actor=pb.Actor(customer_id=customer), after_id=0)
        )
    ).events

    async def keep_booking() -> None:
        for _ in range(40):
            await stack.book(provider, customer)

    writer = asyncio.create_task(keep_booking())
    await asyncio.sleep(0.1)
    watcher = await watch_ws(
        stack.session, stack.b, bearer("customer", customer), lastEventId=str(after.id)
    )
    try:
        await writer
        expected = [
            e.id
            for e in (
                await stack.stub.list_events(
                    pb.ListEventsRequest(actor=pb.Actor(customer_id=customer), after_id=after.id)
                )
            ).events
        ]
        assert len(expected) == 40
        await watcher.wait_for(40)
        assert watcher.ids == expected
    finally:
        await watcher.close()


async def test_a_bad_resume_id_is_a_validation_problem(stack: Stack) -> None:
    customer = await stack.customer()
    for params, headers in (
        ({"lastEventId": "abc"}, {}),
        ({"lastEventId": "-1"}, {}),
        ({"lastEventId": str(2**64)}, {}),
        ({}, {"Last-Event-ID": "1.5"}),
    ):
        async with stack.session.get(
            f"{stack.a.url}/events",
            params=params,
            headers={**bearer("customer", customer), **headers},
        ) as response:
            assert response.status == 400
            problem = await response.json()
            assert problem["code"] == "VALIDATION_FAILED"
            assert problem["errors"][0]["field"] in {"lastEventId", "Last-Event-ID"}


# --- Redis outages ----------------------------------------------------------------------


async def test_events_published_while_a_replica_lost_redis_are_caught_up_from_booking_core(
    stack: Stack,
) -> None:
    """Replica A loses Redis while booking-core keeps publishing to it: those messages
    are gone for A, yet its clients get every event, from booking-core, when A is back."""
    provider, customer = await stack.provider(), await stack.customer()
    watcher = await watch_ws(stack.session, stack.a, bearer("customer", customer))
    caught_up_before = await stack.metric(stack.a, "notifier_caught_up_events_total")
    try:
        await stack.book(provider, customer)
        await watcher.wait_for(1)
        await stack.proxy.cut()
        missed = [await stack.book(provider, customer) for i in range(5)]
        await asyncio.sleep(0.5)
        await stack.proxy.restore()
        events = await watcher.wait_for(6, timeout=20)
        assert [e["data"]["bookingId"] for e in events[1:]] == missed
        assert watcher.ids == sorted(set(watcher.ids))
        assert (
            await stack.metric(stack.a, "notifier_caught_up_events_total") >= caught_up_before + 5
        )
        assert await stack.metric(stack.a, "notifier_redis_reconnects_total") >= 1
    finally:
        await watcher.close()


async def test_redis_restarted_while_clients_are_connected_loses_no_event(stack: Stack) -> None:
    provider, customer = await stack.provider(), await stack.customer()
    customer_ws = await watch_ws(stack.session, stack.a, bearer("customer", customer))
    provider_sse = await watch_sse(stack.session, stack.b, bearer("provider", provider))
    try:
        await stack.book(provider, customer)
        await customer_ws.wait_for(1)
        await provider_sse.wait_for(1)

        stack.redis.stop()
        during = [await stack.book(provider, customer) for i in range(4)]
        stack.redis.start()
        after = await stack.book(provider, customer)

        for watcher in (customer_ws, provider_sse):
            events = await watcher.wait_for(6, timeout=30)
            booked = [e["data"]["bookingId"] for e in events]
            assert set(booked[1:]) == {*during, after}
            assert len(watcher.ids) == len(set(watcher.ids))
        await eventually(stack.a.is_ready, timeout=15)
        await eventually(stack.b.is_ready, timeout=15)
    finally:
        await customer_ws.close()
        await provider_sse.close()


# --- authentication and protection ------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {make_token('customer', str(uuid.uuid4()), ttl=-60)}"},
        {
            "Authorization": "Bearer "
            + make_token("customer", str(uuid.uuid4()), secret="another-secret-" * 4)
        },
        {"Authorization": f"Bearer {make_token('customer', str(uuid.uuid4()), exp=None)}"},
    ],
    ids=["missing", "garbage", "expired", "wrong-signature", "no-exp"],
)
async def test_bad_missing_or_expired_tokens_get_401_before_any_upgrade(
    stack: Stack, headers: dict[str, str]
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await stack.session.ws_connect(f"{stack.a.url}/ws", headers=headers)
    assert info.value.status == 401
    async with stack.session.get(f"{stack.b.url}/events", headers=headers) as response:
        assert response.status == 401
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert (await response.json())["code"] == "UNAUTHENTICATED"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_connection_closes_when_its_token_expires(stack: Stack) -> None:
    """WebSocket close 4401 and a final SSE ``event: error`` within a second of exp +
    leeway (1 s here); a fresh token's connection on the same replica stays open."""
    provider, customer = await stack.provider(), await stack.customer()
    ttl = 2.0
    opened = time.monotonic()
    short = make_token("customer", customer, ttl=ttl)
    async with (
        stack.session.ws_connect(f"{stack.a.url}/ws", params={"access_token": short}) as ws,
        stack.session.get(
            f"{stack.a.url}/events", headers={"Authorization": f"Bearer {short}"}
        ) as sse,
        stack.session.ws_connect(
            f"{stack.a.url}/ws", params={"access_token": make_token("customer", customer)}
        ) as fresh,
    ):
        assert sse.status == 200
        # Events still flow until then.
        await stack.book(provider, customer)
        assert json.loads((await ws.receive(timeout=10)).data)["type"] == "booking.created"
        closing = await ws.receive(timeout=ttl + 1 + 3)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4401
        assert time.monotonic() - opened < ttl + 1 + 1.5
        lines = (await asyncio.wait_for(sse.content.read(), timeout=5)).decode().splitlines()
        assert "event: error" in lines
        error = json.loads(lines[lines.index("event: error") + 1].removeprefix("data: "))
        assert error["code"] == "TOKEN_EXPIRED"
        # The fresh token's connection got the event too and is still open.
        assert json.loads((await fresh.receive(timeout=5)).data)["type"] == "booking.created"
        await fresh.send_str('{"type":"ping"}')
        assert json.loads((await fresh.receive(timeout=5)).data) == {"type": "pong"}
    # Reconnecting with the expired token is refused before any upgrade.
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await stack.session.ws_connect(f"{stack.a.url}/ws", params={"access_token": short})
    assert info.value.status == 401


async def test_browsers_may_pass_the_token_in_the_query(stack: Stack) -> None:
    provider, customer = await stack.provider(), await stack.customer()
    token = make_token("customer", customer)
    async with stack.session.ws_connect(f"{stack.a.url}/ws", params={"access_token": token}) as ws:
        booking = await stack.book(provider, customer)
        message = await ws.receive(timeout=10)
        assert json.loads(message.data)["data"]["bookingId"] == booking


async def test_the_eleventh_connection_of_one_user_is_refused(stack: Stack) -> None:
    customer = await stack.customer()
    headers = bearer("customer", customer)
    open_ = [await stack.session.ws_connect(f"{stack.a.url}/ws", headers=headers) for _ in range(9)]
    sse = await stack.session.get(f"{stack.a.url}/events", headers=headers)
    try:
        assert sse.status == 200
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await stack.session.ws_connect(f"{stack.a.url}/ws", headers=headers)
        assert info.value.status == 429
        async with stack.session.get(f"{stack.a.url}/events", headers=headers) as refused:
            assert refused.status == 429
            assert (await refused.json())["code"] == "TOO_MANY_CONNECTIONS"
        # The limit is per user: another customer connects fine, and so does this one
        # once a connection closes.
        other = await stack.customer()
        async with stack.session.ws_connect(f"{stack.a.url}/ws", headers=bearer("customer", other)):
            pass
        await open_.pop().close()

        async def reconnects() -> bool:
            open_.append(await stack.session.ws_connect(f"{stack.a.url}/ws", headers=headers))
            return True

        await eventually(reconnects, timeout=5)
    finally:
        sse.close()
        for ws in open_:
            await ws.close()


async def test_flooding_the_websocket_closes_it_with_1008(stack: Stack) -> None:
    customer = await stack.customer()
    async with stack.session.ws_connect(
        f"{stack.a.url}/ws", headers=bearer("customer", customer)
    ) as ws:
        for _ in range(100):
            if ws.closed:
                break
            with contextlib.suppress(ConnectionError):
                await ws.send_str('{"type":"ping"}')
        while (message := await ws.receive(timeout=5)).type is aiohttp.WSMsgType.TEXT:
            assert json.loads(message.data) == {"type": "pong"}
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1008


async def test_an_oversized_message_closes_the_websocket_with_1008(stack: Stack) -> None:
    customer = await stack.customer()
    async with stack.session.ws_connect(
        f"{stack.a.url}/ws", headers=bearer("customer", customer)
    ) as ws:
        await ws.send_str(json.dumps({"type": "ping", "pad": "x" * 10_000}))
        message = await ws.receive(timeout=5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1008


async def test_binary_frames_close_the_websocket_with_1003(stack: Stack) -> None:
    customer = await stack.customer()
    async with stack.session.ws_connect(
        f"{stack.a.url}/ws", headers=bearer("customer", customer)
    ) as ws:
        await ws.send_bytes(b"\x00\x01")
        await ws.receive(timeout=5)
        assert ws.close_code == 1003


async def test_origins_are_checked_for_browser_connections(stack: Stack) -> None:
    customer = await stack.customer()
    headers = bearer("customer", customer)
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await stack.session.ws_connect(
            f"{stack.a.url}/ws", headers=headers, origin="https://evil.example"
        )
    assert info.value.status == 403
    async with stack.session.ws_connect(
        f"{stack.a.url}/ws", headers=headers, origin=stack.browser_origin
    ):
        pass
    async with stack.session.get(
        f"{stack.b.url}/events", headers={**headers, "Origin": stack.browser_origin}
    ) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == stack.browser_origin
    async with stack.session.get(
        f"{stack.b.url}/events", headers={**headers, "Origin": "https://evil.example"}
    ) as response:
        assert response.status == 403
        assert "Access-Control-Allow-Origin" not in response.headers


def _raw_websocket(port: int, token: str) -> socket.socket:
    """A WebSocket handshake on a plain socket with a tiny receive buffer, never read again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws?access_token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def test_a_client_that_never_reads_is_disconnected_and_memory_stays_bounded(
    stack: Stack,
) -> None:
    customer, provider = str(uuid.uuid4()), str(uuid.uuid4())
    sock = await asyncio.to_thread(_raw_websocket, stack.b.port, make_token("customer", customer))
    slow_consumers = await stack.metric(stack.b, "notifier_events_dropped_total")
    rss_before = stack.b.rss_bytes()
    # 2,000 events of 16 KiB each (32 MB) for that customer, straight onto the channel.
    padding = "x" * 16_384
    redis = Redis.from_url(stack.redis.url)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(2000):
                envelope = EventEnvelope(
                    10**12 + n,
                    "booking.created",
                    datetime.now(UTC),
                    {
                        "bookingId": str(uuid.uuid4()),
                        "customerId": customer,
                        "providerId": provider,
                        "note": padding,
                    },
                )
                pipe.publish(CHANNEL, envelope.to_json())
            await pipe.execute()

        async def dropped() -> bool:
            return await stack.metric(stack.b, "notifier_events_dropped_total") > slow_consumers

        await eventually(dropped, timeout=20)
        # The replica did not keep 32 MB around, and still serves everyone else.
        growth = stack.b.rss_bytes() - rss_before
        assert growth < 24 * 1024 * 1024, f"RSS grew by {growth / 2**20:.1f} MiB"

        def server_closed() -> bool:
            sock.settimeout(5)
            while True:
                try:
                    if not sock.recv(1 << 20):
                        return True
                except ConnectionResetError:
                    return True

        assert await asyncio.to_thread(server_closed)
        async with stack.session.ws_connect(
            f"{stack.b.url}/ws", headers=bearer("customer", str(uuid.uuid4()))
        ) as ws:
            await ws.send_str('{"type":"ping"}')
            assert json.loads((await ws.receive(timeout=5)).data) == {"type": "pong"}
    finally:
        sock.close()
        await redis.aclose()


# --- operations -------------------------------------------------------------------------


async def test_a_client_that_goes_away_is_forgotten_before_the_next_heartbeat(
    stack: Stack,
) -> None:
    """The stack's heartbeat is 5 s; a closed SSE or WebSocket connection must leave
    the registry (and free its slot of the per-user limit) well before that."""
    customer = await stack.customer()
    baseline = await stack.metric(stack.b, "notifier_connections")
    for connect in (watch_sse, watch_ws):
        watcher = await connect(stack.session, stack.b, bearer("customer", customer))

        async def opened() -> bool:
            return await stack.metric(stack.b, "notifier_connections") == baseline + 1

        await eventually(opened)
        await watcher.close()

        async def forgotten() -> bool:
            return await stack.metric(stack.b, "notifier_connections") == baseline

        await eventually(forgotten, timeout=2)


async def test_the_heartbeat_closes_a_websocket_whose_client_stopped_answering_pings(
    stack: Stack,
) -> None:
    """One timer pings every WebSocket each HEARTBEAT_SECONDS; a client that has sent
    nothing since the last ping, not even its pong, is disconnected. A client that
    answers stays, gets its events, and gets a pong frame for its own ping frame."""
    replica = NotifierProcess(
        stack.core.port,
        stack.redis.url,
        stack.log_dir / "notifier-heartbeat.log",
        HEARTBEAT_SECONDS="0.3",
    )
    await replica.start()
    provider, silent_customer, live_customer = (
        await stack.provider(),
        await stack.customer(),
        await stack.customer(),
    )
    try:
        # aiohttp's client answers pings itself unless told not to.
        silent = await stack.session.ws_connect(
            f"{replica.url}/ws", headers=bearer("customer", silent_customer), autoping=False
        )
        live = await stack.session.ws_connect(
            f"{replica.url}/ws", headers=bearer("customer", live_customer), autoping=False
        )
        pings = 0
        events: list[dict[str, Any]] = []

        async def answer_pings() -> None:
            nonlocal pings
            async for message in live:
                if message.type is aiohttp.WSMsgType.PING:
                    pings += 1
                    await live.pong(message.data)
                elif message.type is aiohttp.WSMsgType.TEXT:
                    events.append(json.loads(message.data))

        answering = asyncio.create_task(answer_pings())
        # The silent one reads (so it sees its close) but never answers.
        first = await silent.receive(timeout=5)
        assert first.type is aiohttp.WSMsgType.PING
        closed = await silent.receive(timeout=5)
        assert closed.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE)

        async def counted() -> bool:
            return await stack.metric(replica, "notifier_disconnects_total") == 1

        await eventually(counted, timeout=5)
        booking_id = await stack.book(provider, live_customer)

        async def delivered() -> bool:
            return [e["data"]["bookingId"] for e in events] == [booking_id]

        await eventually(delivered, timeout=5)
        await asyncio.sleep(1)  # several more rounds: the answering one stays
        assert pings >= 3
        assert not live.closed
        assert await stack.metric(replica, "notifier_connections") == 1
        answering.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await answering
        await live.ping(b"are you there")
        while (message := await live.receive(timeout=5)).type is aiohttp.WSMsgType.PING:
            await live.pong(message.data)
        assert (message.type, message.data) == (aiohttp.WSMsgType.PONG, b"are you there")
        await live.close()
        await silent.close()
    finally:
        await asyncio.to_thread(replica.terminate, 15)


async def test_health_ready_and_metrics(stack: Stack) -> None:
    async with stack.session.get(f"{stack.a.url}/health") as response:
        assert response.status == 200
    async with stack.session.get(f"{stack.a.url}/ready") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ready", "redis": "ok", "core": "ok"}
    customer = await stack.customer()
    async with stack.session.ws_connect(f"{stack.a.url}/ws", headers=bearer("customer", customer)):

        async def counted() -> bool:
            return await stack.metric(stack.a, "notifier_connections") >= 1

        await eventually(counted)
    async with stack.session.get(f"{stack.a.url}/metrics") as response:
        text = await response.text()
    for name in (
        'notifier_connections{transport="websocket"}',
        "notifier_events_delivered_total",
        "notifier_events_dropped_total",
        "notifier_replays_total",
    ):
        assert name in text


async def test_sigterm_closes_websockets_with_1001_and_ends_sse_streams(stack: Stack) -> None:
    replica = NotifierProcess(stack.core.port, stack.redis.url, stack.log_dir / "notifier-c.log")
    await replica.start()
    customer = await stack.customer()
    ws = await watch_ws(stack.session, replica, bearer("customer", customer))
    sse = await watch_sse(stack.session, replica, bearer("customer", customer))
    started = time.monotonic()
    code = await asyncio.to_thread(replica.terminate, 15)
    try:
        assert code == 0
        assert time.monotonic() - started < 10
        await asyncio.wait_for(ws.ended.wait(), 5)
        await asyncio.wait_for(sse.ended.wait(), 5)
        assert ws.ws is not None and ws.ws.close_code == 1001
        logged = [json.loads(line)["event"] for line in replica.log_lines() if line.startswith("{")]
        assert "notifier.closing" in logged
    finally:
        await ws.close()
        await sse.close()


# --- a real browser ---------------------------------------------------------------------


def chromium() -> str:
    """Debian's chromium; on CI its absence is a failure, elsewhere a skip."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (CI installs Debian's chromium package)")
    pytest.skip("chromium is not installed: apt-get install chromium")


async def test_a_browser_receives_events_over_eventsource_and_websocket(
    stack: Stack, tmp_path: Path
) -> None:
    browser = chromium()
    provider, customer = await stack.provider(), await stack.customer()
    reports: list[dict[str, Any]] = []
    page = (Path(__file__).parent / "browser" / "watch.html").read_text()

    async def serve_page(_request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def collect(request: web.Request) -> web.Response:
        reports.append(json.loads(await request.text()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/", serve_page)
    app.router.add_post("/report", collect)
    runner = web.AppRunner(app)
    await runner.setup()
    origin_port = int(stack.browser_origin.rsplit(":", 1)[1])
    await web.TCPSite(runner, "127.0.0.1", origin_port).start()
    query = urlencode({"notifier": stack.a.url, "token": make_token("customer", customer)})
    process = await asyncio.create_subprocess_exec(
        browser,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"{stack.browser_origin}/?{query}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:

        def kinds() -> set[str]:
            return {r["kind"] for r in reports}

        async def connected() -> bool:
            return {"sse-open", "ws-open"} <= kinds()

        await eventually(connected, timeout=30)
        booking = await stack.book(provider, customer)

        async def delivered() -> bool:
            return {"sse", "ws"} <= kinds()

        await eventually(delivered, timeout=15)
        sse = next(r["payload"] for r in reports if r["kind"] == "sse")
        ws = next(r["payload"] for r in reports if r["kind"] == "ws")
        assert sse["envelope"] == ws["envelope"]
        assert sse["envelope"]["data"]["bookingId"] == booking
        assert sse["lastEventId"] == sse["envelope"]["id"]
        assert "ws-close" not in kinds()
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        await runner.cleanup()
