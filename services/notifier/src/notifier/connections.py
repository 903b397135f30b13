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
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
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
            self.key: AudienceKey = (str(principal.role), principal.owner_id)
        elif channel is not None:
            self.key = (CHANNEL, channel)
        else:
            raise ValueError("a connection is for a principal or a public channel")
        self.ip = ip
        self.transport = transport
        self.floor = 0
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
        self._by_owner: dict[AudienceKey, set[Connection]] = {}
        self._public_by_ip: dict[str, int] = {}
        self._metrics = metrics
        self._max_per_user = max_per_user
        self._max_public_per_ip = max_public_per_ip
        self._closing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return sum(len(group) for group in self._by_owner.values())

    def __iter__(self) -> Iterator[Connection]:
        for group in list(self._by_owner.values()):
            yield from list(group)

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
        if group is None:
            group = self._by_owner[connection.key] = set()
        elif connection.principal is not None and len(group) >= self._max_per_user:
            raise TooManyConnections(
                f"at most {self._max_per_user} connections per user on one replica"
            )
        group.add(connection)
        self._metrics.connections.labels(connection.transport).inc()

    def remove(self, connection: Connection) -> None:
        """Forget ``connection`` (idempotent)."""
        group = self._by_owner.get(connection.key)
        if group is None or connection not in group:
            return
        group.discard(connection)
        if not group:
            del self._by_owner[connection.key]
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
            for connection in list(self._by_owner.get(key, ())):
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

    def close_soon(self, connection: Connection, reason: str) -> None:
        """Close ``connection`` for ``reason`` in a task of its own (kept until done)."""
        task = asyncio.create_task(connection.close(reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def close_at_expiry(self, connection: Connection, leeway: float) -> asyncio.TimerHandle | None:
        """Close a principal's connection when its token expires (``exp`` plus
        ``leeway`` seconds, as verification allows): a revoked or logged-out user
        cannot keep listening. None for public connections; cancel the handle when
        the connection ends first."""
        caller = connection.principal
        if caller is None or caller.expires_at is None:
            return None
        loop = asyncio.get_running_loop()
        delay = max(0.0, caller.expires_at + leeway - time.time())

        def expire() -> None:
            self.remove(connection)
            log.info("notifier.token_expired", audience=connection.key[0], id=connection.key[1])
            self.close_soon(connection, "token_expired")

        return loop.call_at(loop.time() + delay, expire)


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
