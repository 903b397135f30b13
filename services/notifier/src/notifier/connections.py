"""The replica's registry of live connections, keyed by customer and provider id, and by
public channel.

Fan-out: each owner event goes to the connections of ``data.customerId``
(customer tokens) and of ``data.providerId`` (provider tokens), and to no one
else; a public event (``slot.availability``) goes to the connections watching
its channel (``event-type:<slug>``), which need no token. A
connection never blocks the fan-out: events go into its bounded send queue,
and a connection whose queue is full is a slow consumer, disconnected at once
(it can reconnect with ``lastEventId`` and replay what it missed). One JSON
text per event is shared by every connection it goes to.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Final, Protocol

from bookings_common.events import EventEnvelope, public_channel
from bookings_common.logging import get_logger
from bookings_web.auth import Principal, Role

from .core import CoreUnavailable
from .metrics import NotifierMetrics

log = get_logger("notifier.connections")
PONG: Final = '{"type":"pong"}'
# ("customer" | "provider", owner id) or ("channel", public channel name).
AudienceKey = tuple[str, str]
CHANNEL: Final = "channel"
# Connections pinged at once by a heartbeat round.
HEARTBEAT_BATCH: Final = 100


class Transport(enum.StrEnum):
    WEBSOCKET = "websocket"
    SSE = "sse"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for a client: an event (``id`` set) or a control message (``id`` None).

    ``text`` is the JSON sent as a WebSocket text frame or an SSE ``data:`` line;
    one instance is shared by every connection it fans out to.
    """

    id: int | None
    type: str
    text: str

    @classmethod
    def event(cls, envelope: EventEnvelope) -> Outgoing:
        return cls(envelope.id, envelope.type, envelope.to_json())


PONG_MESSAGE: Final = Outgoing(None, "pong", PONG)


class TooManyConnections(Exception):
    """The owner already has ``MAX_CONNECTIONS_PER_USER`` connections on this replica, or
    the client address ``MAX_PUBLIC_CONNECTIONS_PER_IP`` public ones."""


class Peer(Protocol):
    """The transport end of a connection (a WebSocket or an SSE stream)."""

    async def send(self, item: Outgoing) -> None:
        """Write one message; raises ``ConnectionError`` when the client is gone."""

    async def close(self, reason: str) -> None:
        """Close for ``reason``: ``shutdown`` and ``replay_failed`` politely (WebSocket
        close frame, end of the SSE stream), anything else by aborting the socket."""

    async def heartbeat(self) -> bool:
        """The registry's periodic check: ping the client if it needs it; False when the
        client has not answered the previous ping (it is gone)."""


class Connection:
    """One client connection: who it is for (a verified principal's events, or a public
    channel's), its bounded send queue and its replay floor.

    Memory matters here (thousands per replica), so an idle connection holds no
    queue and no task: ``offer`` creates the queue on demand and starts one
    writer task that drains it and ends when it is empty.

    ``floor`` is the highest id the replay sent (or the client's resume id); a
    live event at or below it was part of the replay (every smaller id was
    committed and visible when it was read) and is dropped at the seam.
    """

    __slots__ = (
        "_items",
        "_limit",
        "_metrics",
        "_peer",
        "_send_timeout",
        "_writer",
        "expiry_watched",
        "floor",
        "ip",
        "key",
        "principal",
        "transport",
    )

    def __init__(
        self,
        principal: Principal | None,
        transport: Transport,
        metrics: NotifierMetrics,
        *,
        queue_size: int,
        send_timeout: float,
        channel: str | None = None,
        ip: str | None = None,
    ) -> None:
        """A principal's connection, or (``principal`` None) one watching ``channel``;
        ``ip`` is the client address public connections are counted by."""
        self.principal = principal
        if principal is not None:
            self.key: AudienceKey = (principal.role.value, principal.owner_id)
        elif channel is not None:
            self.key = (CHANNEL, channel)
        else:
            raise ValueError("a connection is for a principal or a public channel")
        self.ip = ip
        self.transport = transport
        self.floor = 0
        # Whether the registry's ``TokenExpiry`` still means to close it.
        self.expiry_watched = False
        self._metrics = metrics
        self._limit = queue_size
        self._send_timeout = send_timeout
        self._items: deque[Outgoing] | None = None
        self._peer: Peer | None = None
        self._writer: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        """Messages waiting to be written."""
        return len(self._items) if self._items is not None else 0

    def offer(self, item: Outgoing) -> bool:
        """Queue ``item`` for writing; False when the queue is full (a slow consumer)."""
        items = self._items
        if items is None:
            items = self._items = deque()
        if len(items) >= self._limit:
            return False
        items.append(item)
        if self._writer is None and self._peer is not None:
            self._writer = asyncio.create_task(self._write())
        return True

    def accepts(self, item: Outgoing) -> bool:
        """Whether ``item`` is still to be sent (control messages always are)."""
        return item.id is None or item.id > self.floor

    def start(self, peer: Peer, replay: AsyncIterator[list[EventEnvelope]] | None) -> None:
        """Start writing to ``peer``: the replay's pages first, then what was queued."""
        self._peer = peer
        if replay is not None or self.queued:
            self._writer = asyncio.create_task(self._write(replay))

    async def heartbeat(self) -> bool:
        """``Peer.heartbeat`` of a started connection (True before it starts)."""
        return await self._peer.heartbeat() if self._peer is not None else True

    async def close(self, reason: str) -> None:
        """Stop writing and close the peer for ``reason`` (see ``Peer.close``)."""
        await self.stop()
        peer, self._peer = self._peer, None
        if peer is not None:
            self._metrics.disconnected.labels(reason).inc()
            await peer.close(reason)

    async def stop(self) -> None:
        """Cancel the writer, if one is running, and wait for it."""
        writer, self._writer = self._writer, None
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write(self, replay: AsyncIterator[list[EventEnvelope]] | None = None) -> None:
        reason = None
        try:
            if replay is not None:
                await self._replay(replay)
            items = self._items
            while items:
                item = items.popleft()
                if self.accepts(item):
                    await self._send(item)
        except CoreUnavailable as exc:
            log.warning("notifier.replay.failed", error=str(exc))
            reason = "replay_failed"
        except TimeoutError:
            reason = "send_timeout"
        except (ConnectionError, RuntimeError):
            pass  # the client went away; its handler cleans up
        finally:
            self._writer = None
            if not self._items:
                self._items = None  # an idle connection keeps no queue
        if reason is not None:
            await self.close(reason)

    async def _replay(self, pages: AsyncIterator[list[EventEnvelope]]) -> None:
        self._metrics.replays.inc()
        for_replay = self._metrics.replayed_events
        async for page in pages:
            for envelope in page:
                if envelope.id > self.floor:
                    await self._send(Outgoing.event(envelope))
                    self.floor = envelope.id
                    for_replay.inc()

    async def _send(self, item: Outgoing) -> None:
        assert self._peer is not None
        async with asyncio.timeout(self._send_timeout):
            await self._peer.send(item)
        if item.id is not None:
            self._metrics.delivered.labels(self.transport).inc()


class Registry:
    """Local connections by audience; ``dispatch`` fans an event out to its audience."""

    def __init__(
        self, metrics: NotifierMetrics, *, max_per_user: int, max_public_per_ip: int = 20
    ) -> None:
        # An audience's one connection as itself, several as a set: most owners have
        # one, and an empty set alone costs more than 200 bytes.
        self._by_owner: dict[AudienceKey, Connection | set[Connection]] = {}
        self._public_by_ip: dict[str, int] = {}
        self._metrics = metrics
        self._max_per_user = max_per_user
        self._max_public_per_ip = max_public_per_ip
        self._closing: set[asyncio.Task[None]] = set()
        self._expiry = TokenExpiry(self._token_expired)

    def __len__(self) -> int:
        return sum(len(_members(group)) for group in self._by_owner.values())

    def __iter__(self) -> Iterator[Connection]:
        for group in list(self._by_owner.values()):
            yield from list(_members(group))

    def add(self, connection: Connection) -> None:
        """Register ``connection``; raises ``TooManyConnections`` at the per-user limit
        (owner connections) or the per-address limit (public ones)."""
        if connection.principal is None:
            ip = connection.ip or "unknown"
            if self._public_by_ip.get(ip, 0) >= self._max_public_per_ip:
                raise TooManyConnections(
                    f"at most {self._max_public_per_ip} public connections per address "
                    "on one replica"
                )
            self._public_by_ip[ip] = self._public_by_ip.get(ip, 0) + 1
        group = self._by_owner.get(connection.key)
        at_limit = group is not None and len(_members(group)) >= self._max_per_user
        if at_limit and connection.principal is not None:
            raise TooManyConnections(
                f"at most {self._max_per_user} connections per user on one replica"
            )
        if group is None:
            self._by_owner[connection.key] = connection
        elif isinstance(group, Connection):
            self._by_owner[connection.key] = {group, connection}
        else:
            group.add(connection)
        self._metrics.connections.labels(connection.transport).inc()

    def holds(self, connection: Connection) -> bool:
        """Whether ``connection`` is registered."""
        group = self._by_owner.get(connection.key)
        return group is connection or (isinstance(group, set) and connection in group)

    def remove(self, connection: Connection) -> None:
        """Forget ``connection`` (idempotent)."""
        self._expiry.forget(connection)
        group = self._by_owner.get(connection.key)
        if group is connection:
            del self._by_owner[connection.key]
        elif isinstance(group, set) and connection in group:
            group.discard(connection)
            if len(group) == 1:
                self._by_owner[connection.key] = next(iter(group))
        else:
            return
        if connection.principal is None:
            ip = connection.ip or "unknown"
            left = self._public_by_ip.get(ip, 1) - 1
            if left > 0:
                self._public_by_ip[ip] = left
            else:
                self._public_by_ip.pop(ip, None)
        self._metrics.connections.labels(connection.transport).dec()

    def dispatch(self, envelope: EventEnvelope, item: Outgoing) -> int:
        """Queue ``item`` for the event's audience (its customer's and provider's
        connections, or its public channel's); returns how many queues took it. A full
        queue disconnects its connection."""
        queued = 0
        for key in audience(envelope):
            group = self._by_owner.get(key)
            for connection in list(_members(group)) if group is not None else ():
                if connection.offer(item):
                    queued += 1
                else:
                    self._slow_consumer(connection)
        return queued

    def _slow_consumer(self, connection: Connection) -> None:
        self.remove(connection)
        self._metrics.dropped.labels("slow_consumer").inc()
        log.warning(
            "notifier.slow_consumer",
            transport=connection.transport,
            audience=connection.key[0],
            id=connection.key[1],
            queued=connection.queued,
        )
        self.close_soon(connection, "slow_consumer")

    async def heartbeat_forever(self, interval: float, *, send_timeout: float) -> None:
        """Give every connection its heartbeat (``Peer.heartbeat``, ``send_timeout``
        seconds at most each) once every ``interval`` seconds, spread over the interval,
        and close those whose client did not answer the last one
        (``heartbeat_timeout``): one task for the replica, not a timer per connection."""
        while True:
            started = asyncio.get_running_loop().time()
            await self.heartbeat_once(send_timeout=send_timeout, spread_over=interval)
            elapsed = asyncio.get_running_loop().time() - started
            await asyncio.sleep(max(interval - elapsed, interval / 10))

    async def heartbeat_once(self, *, send_timeout: float, spread_over: float = 0.0) -> int:
        """One round of ``heartbeat_forever``, ``HEARTBEAT_BATCH`` connections at a time
        with pauses that spread the round over ``spread_over`` seconds (so thousands of
        pings never hold up the fan-out); returns how many connections it closed."""

        async def beat(connection: Connection) -> bool:
            try:
                async with asyncio.timeout(send_timeout):
                    return await connection.heartbeat()
            except (TimeoutError, ConnectionError, RuntimeError):
                return False

        gone = 0
        connections = list(self)
        batches = range(0, len(connections), HEARTBEAT_BATCH)
        pause = spread_over / len(batches) if batches else 0.0
        for start in batches:
            if start and pause:
                await asyncio.sleep(pause)
            batch = connections[start : start + HEARTBEAT_BATCH]
            alive = await asyncio.gather(*(beat(c) for c in batch))
            for connection, ok in zip(batch, alive, strict=True):
                if not ok and self.holds(connection):
                    gone += 1
                    self.remove(connection)
                    self.close_soon(connection, "heartbeat_timeout")
        return gone

    def close_soon(self, connection: Connection, reason: str) -> None:
        """Close ``connection`` for ``reason`` in a task of its own (kept until done)."""
        task = asyncio.create_task(connection.close(reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def close_at_expiry(self, connection: Connection, leeway: float) -> None:
        """Close a principal's connection when its token expires (``exp`` plus
        ``leeway`` seconds, as verification allows): a revoked or logged-out user
        cannot keep listening. Public connections have no token; ``remove`` (when the
        connection ends first) stops the watch."""
        caller = connection.principal
        if caller is not None and caller.expires_at is not None:
            self._expiry.watch(connection, caller.expires_at + leeway)

    def _token_expired(self, connection: Connection) -> None:
        self.remove(connection)
        log.info("notifier.token_expired", audience=connection.key[0], id=connection.key[1])
        self.close_soon(connection, "token_expired")


class TokenExpiry:
    """When connections' tokens expire, with one timer for all of them (a timer per
    connection costs each idle connection half a kilobyte).

    ``watch`` puts (expiry, connection) on a heap; the timer fires for the earliest
    and calls ``on_expired`` for every connection due and still watched. ``forget``
    only clears the connection's ``expiry_watched`` flag; forgotten entries leave the
    heap when due, or all at once when they outnumber the watched ones, so the heap
    stays within twice the connections open.
    """

    def __init__(self, on_expired: Callable[[Connection], None]) -> None:
        self._on_expired = on_expired
        self._heap: list[tuple[float, int, Connection]] = []
        self._order = itertools.count()
        self._watched = 0
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        """How many connections are watched."""
        return self._watched

    def watch(self, connection: Connection, expires_at: float) -> None:
        """Call ``on_expired(connection)`` at ``expires_at`` (Unix seconds) unless
        ``forget`` comes first."""
        if connection.expiry_watched:
            return
        connection.expiry_watched = True
        self._watched += 1
        heapq.heappush(self._heap, (expires_at, next(self._order), connection))
        if self._heap[0][2] is connection:
            self._schedule()

    def forget(self, connection: Connection) -> None:
        if not connection.expiry_watched:
            return
        connection.expiry_watched = False
        self._watched -= 1
        if len(self._heap) > 2 * self._watched + 64:
            self._heap = [entry for entry in self._heap if entry[2].expiry_watched]
            heapq.heapify(self._heap)
            self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._heap:
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._heap[0][0] - time.time())
            self._timer = loop.call_at(loop.time() + delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = time.time()
        while self._heap and self._heap[0][0] <= now:
            _, _, connection = heapq.heappop(self._heap)
            if connection.expiry_watched:
                connection.expiry_watched = False
                self._watched -= 1
                self._on_expired(connection)
        self._schedule()


def _members(group: Connection | set[Connection]) -> Collection[Connection]:
    return (group,) if isinstance(group, Connection) else group


def audience(envelope: EventEnvelope) -> tuple[AudienceKey, ...]:
    """Who an event goes to: its public channel's watchers, or its customer and provider."""
    channel = public_channel(envelope.type, envelope.data)
    if channel is not None:
        return ((CHANNEL, channel),)
    customer_id = envelope.data.get("customerId")
    provider_id = envelope.data.get("providerId")
    owners: list[AudienceKey] = []
    if isinstance(customer_id, str):
        owners.append((str(Role.CUSTOMER), customer_id))
    if isinstance(provider_id, str):
        owners.append((str(Role.PROVIDER), provider_id))
    return tuple(owners)
