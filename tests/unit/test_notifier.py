"""The notifier's fan-out rules, duplicate window, resume ids and backoff, without I/O."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from bookings_common.events import EventEnvelope
from bookings_web.auth import Principal, Role
from bookings_web.problems import ValidationFailed
from environs import Env, EnvError
from notifier.connections import (
    PONG_MESSAGE,
    Connection,
    Outgoing,
    Registry,
    TooManyConnections,
    Transport,
    audience,
)
from notifier.listener import BACKOFF_MAX_SECONDS, SeenIds, backoff_seconds
from notifier.metrics import NotifierMetrics
from notifier.settings import Settings
from notifier.views import parse_event_id
from prometheus_client import CollectorRegistry


def customer(owner: str) -> Principal:
    return Principal(f"customer:{owner}", Role.CUSTOMER, customer_id=owner)


def provider(owner: str) -> Principal:
    return Principal(f"provider:{owner}", Role.PROVIDER, provider_id=owner)


def event(event_id: int, customer_id: str, provider_id: str) -> EventEnvelope:
    data = {"bookingId": str(uuid.uuid4()), "customerId": customer_id, "providerId": provider_id}
    return EventEnvelope(event_id, "booking.created", datetime.now(UTC), data)


def make_registry(max_per_user: int = 10) -> tuple[Registry, NotifierMetrics]:
    metrics = NotifierMetrics(CollectorRegistry())
    return Registry(metrics, max_per_user=max_per_user), metrics


class RecordingPeer:
    """A ``Peer`` that records what it is sent (a fake at our own port)."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.closed: list[str] = []

    async def send(self, item: Outgoing) -> None:
        self.sent.append(item)

    async def close(self, reason: str) -> None:
        self.closed.append(reason)

    async def heartbeat(self) -> bool:
        return True


def connect(
    registry: Registry, metrics: NotifierMetrics, principal: Principal, queue_size: int = 8
) -> Connection:
    connection = Connection(
        principal, Transport.WEBSOCKET, metrics, queue_size=queue_size, send_timeout=1.0
    )
    registry.add(connection)
    return connection


def queued(connection: Connection) -> list[int | None]:
    """What a connection that has not started writing holds, in order."""
    items = connection._items or ()
    return [item.id for item in items]


async def test_an_event_goes_to_its_customer_and_provider_and_no_one_else() -> None:
    registry, metrics = make_registry()
    alice, bob, shop = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    alice_ws = connect(registry, metrics, customer(alice))
    alice_sse = connect(registry, metrics, customer(alice))
    bob_ws = connect(registry, metrics, customer(bob))
    shop_sse = connect(registry, metrics, provider(shop))
    # A provider id equal to a customer id must not leak across roles.
    shop_as_customer = connect(registry, metrics, customer(shop))

    envelope = event(7, alice, shop)
    assert registry.dispatch(envelope, Outgoing.event(envelope)) == 3

    assert queued(alice_ws) == queued(alice_sse) == queued(shop_sse) == [7]
    assert queued(bob_ws) == queued(shop_as_customer) == []


async def test_public_events_go_to_their_channel_and_never_to_owners() -> None:
    registry, metrics = make_registry()
    shop = str(uuid.uuid4())
    watcher = Connection(
        None,
        Transport.SSE,
        metrics,
        queue_size=8,
        send_timeout=1.0,
        channel="event-type:abc",
        ip="192.0.2.1",
    )
    other = Connection(
        None, Transport.SSE, metrics, queue_size=8, send_timeout=1.0, channel="event-type:xyz"
    )
    registry.add(watcher)
    registry.add(other)
    owner = connect(registry, metrics, provider(shop))
    public = EventEnvelope(
        9,
        "slot.availability",
        datetime.now(UTC),
        {"slug": "abc", "slotStart": "2030-01-07T09:00:00Z", "remaining": 2},
    )
    assert audience(public) == (("channel", "event-type:abc"),)
    assert registry.dispatch(public, Outgoing.event(public)) == 1
    assert queued(watcher) == [9] and queued(other) == queued(owner) == []
    booked = event(10, str(uuid.uuid4()), shop)
    assert registry.dispatch(booked, Outgoing.event(booked)) == 1
    assert queued(watcher) == [9] and queued(owner) == [10]


async def test_public_connections_are_limited_per_address() -> None:
    metrics = NotifierMetrics(CollectorRegistry())
    registry = Registry(metrics, max_per_user=1, max_public_per_ip=2)

    def watch(ip: str) -> Connection:
        connection = Connection(
            None,
            Transport.SSE,
            metrics,
            queue_size=8,
            send_timeout=1.0,
            channel="event-type:a",
            ip=ip,
        )
        registry.add(connection)
        return connection

    first, _ = watch("192.0.2.1"), watch("192.0.2.1")
    with pytest.raises(TooManyConnections):
        watch("192.0.2.1")
    watch("198.51.100.7")  # another address; and the per-user limit does not apply
    registry.remove(first)
    watch("192.0.2.1")
    assert len(registry) == 3
    with pytest.raises(ValueError, match="principal or a public channel"):
        Connection(None, Transport.SSE, metrics, queue_size=8, send_timeout=1.0)


async def test_the_per_user_limit_counts_one_owner_and_frees_on_remove() -> None:
    registry, metrics = make_registry(max_per_user=2)
    alice = str(uuid.uuid4())
    first = connect(registry, metrics, customer(alice))
    connect(registry, metrics, customer(alice))
    with pytest.raises(TooManyConnections):
        connect(registry, metrics, customer(alice))
    connect(registry, metrics, customer(str(uuid.uuid4())))
    registry.remove(first)
    registry.remove(first)  # idempotent
    connect(registry, metrics, customer(alice))
    assert len(registry) == 3


async def test_a_full_queue_disconnects_only_that_connection() -> None:
    registry, metrics = make_registry()
    alice, shop = str(uuid.uuid4()), str(uuid.uuid4())
    slow = connect(registry, metrics, customer(alice), queue_size=2)
    fast = connect(registry, metrics, provider(shop), queue_size=100)

    class Stuck(RecordingPeer):
        async def send(self, item: Outgoing) -> None:
            await asyncio.Event().wait()  # a client that never reads

    slow.start(Stuck(), None)
    for event_id in range(1, 6):
        envelope = event(event_id, alice, shop)
        registry.dispatch(envelope, Outgoing.event(envelope))
    for _ in range(3):
        await asyncio.sleep(0)

    assert list(registry) == [fast]
    assert queued(fast) == [1, 2, 3, 4, 5]
    assert metrics.dropped.labels("slow_consumer")._value.get() == 1
    assert metrics.disconnected.labels("slow_consumer")._value.get() == 1


async def test_a_connection_writes_the_replay_then_the_queue_dropping_what_the_replay_sent() -> (
    None
):
    registry, metrics = make_registry()
    alice, shop = str(uuid.uuid4()), str(uuid.uuid4())
    connection = connect(registry, metrics, customer(alice))
    connection.floor = 3  # the client said lastEventId=3
    # Live events arrive while the replay is being read: queued, not yet written.
    for event_id in (6, 8):
        envelope = event(event_id, alice, shop)
        registry.dispatch(envelope, Outgoing.event(envelope))

    async def pages() -> AsyncIterator[list[EventEnvelope]]:
        yield [event(3, alice, shop), event(4, alice, shop)]
        yield [event(5, alice, shop), event(6, alice, shop)]

    peer = RecordingPeer()
    connection.start(peer, pages())
    for _ in range(5):
        await asyncio.sleep(0)
    envelope = event(9, alice, shop)
    registry.dispatch(envelope, Outgoing.event(envelope))
    connection.offer(PONG_MESSAGE)
    for _ in range(5):
        await asyncio.sleep(0)

    assert [item.id for item in peer.sent] == [4, 5, 6, 8, 9, None]
    assert connection.floor == 6
    assert connection.queued == 0
    assert metrics.replayed_events._value.get() == 3


async def test_an_idle_connection_holds_no_queue_and_no_task() -> None:
    registry, metrics = make_registry()
    alice = str(uuid.uuid4())
    connection = connect(registry, metrics, customer(alice))
    peer = RecordingPeer()
    connection.start(peer, None)
    envelope = event(1, alice, str(uuid.uuid4()))
    registry.dispatch(envelope, Outgoing.event(envelope))
    for _ in range(3):
        await asyncio.sleep(0)
    assert [item.id for item in peer.sent] == [1]
    assert connection._items is None
    assert connection._writer is None


async def test_closing_stops_writing_and_closes_the_peer_once() -> None:
    registry, metrics = make_registry()
    connection = connect(registry, metrics, customer(str(uuid.uuid4())))
    peer = RecordingPeer()
    connection.start(peer, None)
    await connection.close("shutdown")
    await connection.close("shutdown")
    assert peer.closed == ["shutdown"]
    assert metrics.disconnected.labels("shutdown")._value.get() == 1


def expiring(principal: Principal, seconds_left: float) -> Principal:
    return replace(principal, expires_at=time.time() + seconds_left)


async def test_connections_close_when_their_tokens_expire_on_one_timer() -> None:
    registry, metrics = make_registry()
    soon = connect(registry, metrics, expiring(customer(str(uuid.uuid4())), 0.05))
    later = connect(registry, metrics, expiring(customer(str(uuid.uuid4())), 0.15))
    ended = connect(registry, metrics, expiring(customer(str(uuid.uuid4())), 0.1))
    public = Connection(
        None, Transport.SSE, metrics, queue_size=8, send_timeout=1.0, channel="event-type:x"
    )
    registry.add(public)
    peers = {}
    for connection in (soon, later, ended, public):
        peers[connection] = RecordingPeer()
        connection.start(peers[connection], None)
        registry.close_at_expiry(connection, leeway=0.0)
    registry.remove(ended)  # it ended first: no expiry for it

    await asyncio.sleep(0.1)
    assert set(registry) == {later, public}
    assert peers[soon].closed == ["token_expired"]
    await asyncio.sleep(0.1)
    assert list(registry) == [public]
    assert peers[later].closed == ["token_expired"]
    assert peers[ended].closed == [] and peers[public].closed == []
    assert metrics.disconnected.labels("token_expired")._value.get() == 2
    assert len(registry._expiry) == 0


async def test_forgotten_expiries_do_not_pile_up() -> None:
    registry, metrics = make_registry()
    for _ in range(1000):  # connections that end long before their tokens expire
        connection = connect(registry, metrics, expiring(customer(str(uuid.uuid4())), 3600))
        registry.close_at_expiry(connection, leeway=0.0)
        registry.remove(connection)
    stays = connect(registry, metrics, expiring(customer(str(uuid.uuid4())), 3600))
    registry.close_at_expiry(stays, leeway=0.0)

    assert len(registry._expiry) == 1
    assert len(registry._expiry._heap) <= 2 * 1 + 64


async def test_a_heartbeat_closes_the_connections_whose_client_stopped_answering() -> None:
    registry, metrics = make_registry()
    answers, silent, broken, stuck = (
        connect(registry, metrics, customer(str(uuid.uuid4()))) for _ in range(4)
    )
    unstarted = connect(registry, metrics, customer(str(uuid.uuid4())))

    class Silent(RecordingPeer):
        async def heartbeat(self) -> bool:
            return False  # pinged last round, nothing heard since

    class Broken(RecordingPeer):
        async def heartbeat(self) -> bool:
            raise ConnectionResetError("the socket is gone")

    class Stuck(RecordingPeer):
        async def heartbeat(self) -> bool:
            await asyncio.Event().wait()  # the ping cannot be written
            return True

    peers = {answers: RecordingPeer(), silent: Silent(), broken: Broken(), stuck: Stuck()}
    for connection, peer in peers.items():
        connection.start(peer, None)

    assert await registry.heartbeat_once(send_timeout=0.05) == 3
    for _ in range(3):
        await asyncio.sleep(0)

    assert set(registry) == {answers, unstarted}
    assert [peers[c].closed for c in (silent, broken, stuck)] == [["heartbeat_timeout"]] * 3
    assert peers[answers].closed == []
    assert metrics.disconnected.labels("heartbeat_timeout")._value.get() == 3


async def test_an_owner_with_one_connection_or_several() -> None:
    registry, metrics = make_registry(max_per_user=3)
    alice, shop = str(uuid.uuid4()), str(uuid.uuid4())
    first = connect(registry, metrics, customer(alice))
    second = connect(registry, metrics, customer(alice))
    third = connect(registry, metrics, customer(alice))
    with pytest.raises(TooManyConnections):
        connect(registry, metrics, customer(alice))
    assert len(registry) == 3
    registry.remove(second)
    registry.remove(second)  # idempotent
    registry.remove(first)
    assert list(registry) == [third]
    envelope = event(1, alice, shop)
    assert registry.dispatch(envelope, Outgoing.event(envelope)) == 1
    assert queued(third) == [1]
    again = connect(registry, metrics, customer(alice))
    assert set(registry) == {third, again}
    registry.remove(third)
    registry.remove(again)
    assert len(registry) == 0 and list(registry) == []
    assert registry.dispatch(envelope, Outgoing.event(envelope)) == 0


def test_the_replay_floor_drops_events_the_replay_sent_but_never_control_messages() -> None:
    registry, metrics = make_registry()
    connection = connect(registry, metrics, customer(str(uuid.uuid4())))
    connection.floor = 10
    assert not connection.accepts(Outgoing.event(event(10, "c", "p")))
    assert connection.accepts(Outgoing.event(event(11, "c", "p")))
    assert connection.accepts(PONG_MESSAGE)


def test_seen_ids_drop_repeats_within_the_window() -> None:
    seen = SeenIds(size=3)
    assert [seen.add(i) for i in (1, 2, 1, 3, 4)] == [True, True, False, True, True]
    assert seen.add(1)  # evicted: the window is the last three ids


@pytest.mark.parametrize("raw", ["abc", "-1", "1.5", "", " ", "١٢", str(2**63)])
def test_bad_resume_ids_are_rejected(raw: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_event_id(raw, "lastEventId")


def test_resume_ids() -> None:
    assert parse_event_id(None, "lastEventId") is None
    assert parse_event_id("0", "lastEventId") == 0
    assert parse_event_id(" 42 ", "Last-Event-ID") == 42
    assert parse_event_id(str(2**63 - 1), "lastEventId") == 2**63 - 1


def test_backoff_grows_with_jitter_up_to_its_cap() -> None:
    for attempt in range(12):
        ceiling = min(BACKOFF_MAX_SECONDS, 0.1 * 2**attempt)
        assert ceiling / 2 <= backoff_seconds(attempt) <= ceiling
    assert backoff_seconds(50) <= BACKOFF_MAX_SECONDS


BASE_ENV = {"JWT_SECRET": "s" * 32, "INTERNAL_TOKEN": "t" * 16}


def settings_of(values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in (*BASE_ENV, *values):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**BASE_ENV, **values}.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env(Env())


def test_settings_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "REDIS_URL", "CORE_GRPC_TARGET", "MAX_CONNECTIONS_PER_USER"):
        monkeypatch.delenv(name, raising=False)
    settings = settings_of({}, monkeypatch)
    assert (settings.port, settings.max_connections_per_user) == (8090, 10)
    assert settings.core_grpc_target == "127.0.0.1:50051"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    "values",
    [
        {"MAX_CONNECTIONS_PER_USER": "0"},
        {"SEND_QUEUE_SIZE": "0"},
        {"HEARTBEAT_SECONDS": "0"},
        {"WS_MESSAGES_PER_SECOND": "-1"},
        {"WS_MAX_MESSAGE_BYTES": "10"},
        {"CORS_ALLOWED_ORIGINS": "*"},
        {"PORT": "70000"},
        {"JWT_SECRET": "short"},
    ],
)
def test_bad_settings_are_refused(values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises((ValueError, EnvError)):
        settings_of(values, monkeypatch)
