"""Live availability on the public channels: two real notifier replicas, the shared
booking-core and the session's Redis; guests watch an event type over SSE and
WebSocket without a token and see ``remaining`` change when someone books through
the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from bookings_proto.bookings import v1 as pb
from gateway.app import create_app as create_gateway

from .conftest import REDIS_URL, gateway_settings
from .harness import CoreProcess, NotifierProcess, SseStream, eventually, make_token
from .test_event_types import create_event_type, guest, new_provider, slots

pytestmark = pytest.mark.integration

PUBLIC_KEYS = {"slug", "slotStart", "slotEnd", "capacity", "remaining"}


@pytest.fixture(scope="module")
async def replicas(
    core: CoreProcess, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[NotifierProcess, NotifierProcess]]:
    log_dir = tmp_path_factory.mktemp("availability")
    a = NotifierProcess(core.port, REDIS_URL, log_dir / "a.log", MAX_PUBLIC_CONNECTIONS_PER_IP="3")
    b = NotifierProcess(core.port, REDIS_URL, log_dir / "b.log")
    await asyncio.gather(a.start(), b.start())
    yield a, b
    a.terminate()
    b.terminate()


@pytest.fixture
async def gateway(core: CoreProcess, aiohttp_client: Any) -> Any:
    settings = gateway_settings(core, public_booking_rate_limit_per_minute=1_000_000)
    return await aiohttp_client(create_gateway(settings))


class Feed:
    """The (id, event, envelope) triples one SSE stream or WebSocket received."""

    def __init__(self) -> None:
        self.items: list[tuple[str | None, str | None, dict[str, Any]]] = []
        self.task: asyncio.Task[None] | None = None

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        async def enough() -> bool:
            return len(self.items) >= count

        await eventually(enough, timeout=10)
        return [envelope for _, _, envelope in self.items]

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def watch_sse(session: aiohttp.ClientSession, url: str, **headers: str) -> Feed:
    response = await session.get(url, headers=headers)
    assert response.status == 200, await response.text()
    feed, stream = Feed(), SseStream(response)

    async def read() -> None:
        try:
            while True:
                event_id, event_type, data = await stream.next_event()
                feed.items.append((event_id, event_type, json.loads(data)))
        except (EOFError, aiohttp.ClientError):
            pass
        finally:
            response.close()

    feed.task = asyncio.create_task(read())
    return feed


async def watch_ws(session: aiohttp.ClientSession, url: str, **headers: str) -> Feed:
    ws = await session.ws_connect(url, headers=headers)
    feed = Feed()

    async def read() -> None:
        try:
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    envelope = json.loads(message.data)
                    feed.items.append((envelope.get("id"), envelope.get("type"), envelope))
        finally:
            await ws.close()

    feed.task = asyncio.create_task(read())
    return feed


async def test_a_guest_sees_remaining_drop_on_another_replica(
    replicas: tuple[NotifierProcess, NotifierProcess],
    gateway: Any,
    stub: pb.BookingServiceStub,
) -> None:
    a, b = replicas
    provider_id = await new_provider(stub)
    custom = f"live-{provider_id[:8]}"
    event_type = await create_event_type(gateway, provider_id, capacity=3, customSlug=custom)
    slot = (await slots(gateway, event_type["slug"]))[0]
    async with aiohttp.ClientSession() as session:
        sse = await watch_sse(session, f"{b.url}/public/event-types/{custom.upper()}/availability")
        ws = await watch_ws(session, f"{a.url}/ws?eventType={event_type['slug']}")
        owner = await watch_ws(
            session,
            f"{a.url}/ws",
            Authorization=f"Bearer {make_token('provider', provider_id)}",
        )
        try:
            await asyncio.sleep(0.2)  # both subscriptions registered before the booking
            for _ in range(2):
                response = await gateway.post(
                    f"/public/event-types/{event_type['slug']}/bookings",
                    json={"slotStart": slot["start"], **guest()},
                )
                assert response.status == 201
            on_b = await sse.wait_for(2)
            on_a = await ws.wait_for(2)
            assert [e["data"]["remaining"] for e in on_b] == [2, 1]
            assert on_a == on_b
            for envelope in on_b:
                assert envelope["type"] == "slot.availability"
                assert set(envelope["data"]) == PUBLIC_KEYS  # no personal data
                assert envelope["data"]["slug"] == event_type["slug"]
            assert [event for _, event, _ in sse.items] == ["slot.availability"] * 2
            assert [int(i) for i, _, _ in sse.items if i] == [int(e["id"]) for e in on_b]
            # The provider's own feed has the bookings, not the public events.
            mine = await owner.wait_for(2)
            assert {e["type"] for e in mine} == {"booking.created"}
        finally:
            for feed in (sse, ws, owner):
                await feed.stop()

        # Resuming after the first event replays only the second one, then goes live.
        first_id = on_b[0]["id"]
        resumed = await watch_sse(
            session,
            f"{b.url}/public/event-types/{event_type['slug']}/availability",
            **{"Last-Event-ID": first_id},
        )
        try:
            assert [e["id"] for e in await resumed.wait_for(1)] == [on_b[1]["id"]]
            response = await gateway.post(
                f"/public/event-types/{event_type['slug']}/bookings",
                json={"slotStart": slot["start"], **guest()},
            )
            assert response.status == 201
            assert [e["data"]["remaining"] for e in await resumed.wait_for(2)] == [1, 0]
        finally:
            await resumed.stop()


async def test_unknown_slugs_and_the_per_address_limit(
    replicas: tuple[NotifierProcess, NotifierProcess],
    gateway: Any,
    stub: pb.BookingServiceStub,
) -> None:
    a, _ = replicas
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{a.url}/public/event-types/nope/availability") as response:
            assert response.status == 404
            assert (await response.json())["code"] == "NOT_FOUND"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"{a.url}/ws?eventType=nope")
        assert refused.value.status == 404

        event_type = await create_event_type(gateway, await new_provider(stub))
        url = f"{a.url}/public/event-types/{event_type['slug']}/availability"
        feeds = [await watch_sse(session, url) for _ in range(3)]
        try:
            async with session.get(url) as response:
                assert response.status == 429
                assert (await response.json())["code"] == "TOO_MANY_CONNECTIONS"
        finally:
            for feed in feeds:
                await feed.stop()

        async def freed() -> bool:
            async with session.get(url, timeout=aiohttp.ClientTimeout(sock_read=0.5)) as response:
                return response.status == 200

        await eventually(freed, timeout=10)
