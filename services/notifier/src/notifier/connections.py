"""The replica's registry of live connections, keyed by customer and provider id.

Fan-out: each event goes to the connections of ``data.customerId`` (customer
tokens) and of ``data.providerId`` (provider tokens), and to no one else. A
connection never blocks the fan-out: events go into its bounded send queue,
and a connection whose queue is full is a slow consumer, disconnected at once
(it can reconnect with ``lastEventId`` and replay what it missed).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Final

from bookings_common.events import EventEnvelope
from bookings_common.logging import get_logger
from bookings_web.auth import Principal, Role

from .metrics import NotifierMetrics

log = get_logger("notifier.connections")
PONG: Final = '{"type":"pong"}'
OwnerKey = tuple[Role, str]


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
    """The owner already has ``MAX_CONNECTIONS_PER_USER`` connections on this replica."""


class Connection:
    """One client connection: who it is for, its bounded send queue and its replay floor.

    ``floor`` is the highest id sent by the replay; a live event at or below it
    was part of the replay (every smaller id was committed and visible when it
    was read) and is dropped at the seam.
    """

    __slots__ = ("_close", "floor", "key", "principal", "queue", "transport")

    def __init__(self, principal: Principal, transport: Transport, queue_size: int) -> None:
        self.principal = principal
        self.key: OwnerKey = (principal.role, principal.owner_id)
        self.transport = transport
        self.queue: asyncio.Queue[Outgoing] = asyncio.Queue(queue_size)
        self.floor = 0
        self._close: Callable[[str], Awaitable[None]] | None = None

    def on_close(self, close: Callable[[str], Awaitable[None]]) -> None:
        """Set how the transport closes this connection, given a reason (see ``close``)."""
        self._close = close

    async def close(self, reason: str) -> None:
        """Close the connection for ``reason`` (``shutdown``, ``slow_consumer``, ...)."""
        if self._close is not None:
            close, self._close = self._close, None
            await close(reason)

    def accepts(self, item: Outgoing) -> bool:
        """Whether ``item`` is still to be sent (control messages always are)."""
        return item.id is None or item.id > self.floor


class Registry:
    """Local connections by owner; ``dispatch`` fans an event out to its owners' queues."""

    def __init__(self, metrics: NotifierMetrics, *, max_per_user: int) -> None:
        self._by_owner: dict[OwnerKey, set[Connection]] = {}
        self._metrics = metrics
        self._max_per_user = max_per_user
        self._closing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return sum(len(group) for group in self._by_owner.values())

    def __iter__(self) -> Iterator[Connection]:
        for group in list(self._by_owner.values()):
            yield from list(group)

    def add(self, connection: Connection) -> None:
        """Register ``connection``; raises ``TooManyConnections`` at the per-user limit."""
        group = self._by_owner.setdefault(connection.key, set())
        if len(group) >= self._max_per_user:
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
        self._metrics.connections.labels(connection.transport).dec()

    def dispatch(self, envelope: EventEnvelope, item: Outgoing) -> int:
        """Queue ``item`` for the connections of the event's customer and provider;
        returns how many queues took it. A full queue disconnects its connection."""
        queued = 0
        for key in _owners(envelope):
            for connection in list(self._by_owner.get(key, ())):
                try:
                    connection.queue.put_nowait(item)
                    queued += 1
                except asyncio.QueueFull:
                    self._slow_consumer(connection)
        return queued

    def _slow_consumer(self, connection: Connection) -> None:
        self.remove(connection)
        self._metrics.dropped.labels("slow_consumer").inc()
        self._metrics.disconnected.labels("slow_consumer").inc()
        log.warning(
            "notifier.slow_consumer",
            transport=connection.transport,
            role=connection.principal.role,
            ownerId=connection.principal.owner_id,
            queued=connection.queue.qsize(),
        )
        task = asyncio.create_task(connection.close("slow_consumer"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def _owners(envelope: EventEnvelope) -> tuple[OwnerKey, ...]:
    customer_id = envelope.data.get("customerId")
    provider_id = envelope.data.get("providerId")
    owners: list[OwnerKey] = []
    if isinstance(customer_id, str):
        owners.append((Role.CUSTOMER, customer_id))
    if isinstance(provider_id, str):
        owners.append((Role.PROVIDER, provider_id))
    return tuple(owners)
